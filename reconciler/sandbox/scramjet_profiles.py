"""The two dialects the Scramjet hub emulator speaks, and the hub-wide reports both share.

- ``documented``: the hub API v1 of the reference (Scramjet's published API reference).
- ``hub-0.18.7``: what the real Transform Hub 0.18.7 from npm does, read from its own code
  (``@scramjet/host`` ``lib/host.js``, ``lib/csi-controller.js``, ``@scramjet/api-server``) and checked
  by ``tests/integration/test_scramjet_differential.py`` against the real hub: no ``PUT``, duplicate
  names accepted, ``{"version"}`` only, instance lists of ``{id, sequence}``, ``_stop`` only with the
  array body and held for its timeout, ``_kill`` 202 ``{"opStatus": "Accepted"}``, health with a
  ``processId``, and errors with empty (or ``{}``) bodies.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DOCUMENTED", "HUB_0_18_7", "PROFILES", "Profile", "load_check"]

DOCUMENTED = "documented"
HUB_0_18_7 = "hub-0.18.7"


@dataclass(frozen=True, slots=True)
class Profile:
    """What differs between the dialects; every other behaviour is shared."""

    name: str
    version: str
    has_put: bool  # PUT /sequence/:id_or_name replaces a package in place
    unique_names: bool  # a second upload of a name is 405 (else 200 and a new id)
    rich_instances: bool  # GET /instances carries appConfig, sequenceArgs and status
    error_bodies: bool  # 404/400 answers say what went wrong (else empty or {})
    stop_holds: bool  # _stop takes only the array body and answers after its timeout

    def version_body(self) -> dict[str, Any]:
        if self.name == HUB_0_18_7:
            return {"version": self.version}
        return {"service": "@scramjet/host", "apiVersion": "v1", "version": self.version, "build": "sandbox"}


PROFILES: dict[str, Profile] = {
    DOCUMENTED: Profile(DOCUMENTED, "0.28.0", True, True, True, True, False),
    HUB_0_18_7: Profile(HUB_0_18_7, "0.18.7", False, False, False, False, True),
}


def load_check(data_dir: Path | None) -> dict[str, Any]:
    """``GET /load-check``: this machine's load, memory and the disk the hub keeps its data on
    (field names as ``@scramjet/load-check`` reports them)."""
    page, pages = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_PHYS_PAGES")
    free = os.sysconf("SC_AVPHYS_PAGES") * page
    disk_path = data_dir if data_dir is not None and Path(data_dir).exists() else Path("/")
    disk = shutil.disk_usage(disk_path)
    return {
        "avgLoad": round(os.getloadavg()[0], 2),
        "currentLoad": round(os.getloadavg()[0] * 100 / (os.cpu_count() or 1), 2),
        "memFree": free,
        "memUsed": pages * page - free,
        "fsSize": [
            {
                "fs": "sandbox",
                "type": "sandbox",
                "size": disk.total,
                "used": disk.used,
                "available": disk.free,
                "use": round(100 * disk.used / disk.total, 2) if disk.total else 0,
                "mount": str(disk_path),
                "rw": os.access(disk_path, os.W_OK),
            }
        ],
    }
