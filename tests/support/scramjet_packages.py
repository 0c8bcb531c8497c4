"""Sequence packages and request headers for tests of the Scramjet hub emulator."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

__all__ = ["API", "JSON", "UPLOAD", "make_package"]

API = "/api/v1"
JSON = {"content-type": "application/json"}
UPLOAD = {"content-type": "application/octet-stream"}


def make_package(
    name: str = "counter",
    *,
    main: str = "index.js",
    files: dict[str, bytes] | None = None,
    prefix: str = "",
    **manifest: Any,
) -> bytes:
    """A tar.gz with package.json (plus the entry file unless ``files`` says otherwise).

    Byte for byte the same for the same arguments: the gzip header's timestamp is fixed (it was
    the current second, so two calls a second apart differed)."""
    pkg: dict[str, Any] = {"name": name, "version": "1.0.0", "main": main, **manifest}
    entries = {"package.json": json.dumps(pkg).encode(), **(files if files is not None else {main: b"//"})}
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for path, data in entries.items():
            info = tarfile.TarInfo(prefix + path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
