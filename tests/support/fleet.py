"""Fleets of small stacks for the fleet drift tests: folders of Signaloid cores, and report values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import yaml

from reconciler.engine.deciding.changes import Action, Cause
from reconciler.engine.deciding.diff import FieldDiff
from tests.support.changes import make_change
from tests.support.signaloid import core_patch

__all__ = ["applied_fleet", "change", "drift_outside", "plan_doc", "write_stack"]


def write_stack(
    folder: Path, cores: dict[str, int], *, api_key: str | None = None, url: str | None = None
) -> Path:
    """A stack of Signaloid cores (name -> precision) in ``folder``; key and URL from the env unless given."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        name: {
            "class": "C0",
            "microarchitecture": "Athens",
            "precision": precision,
            "memory_size": 256000,
            "correlation_tracking": "Autocorrelation",
        }
        for name, precision in cores.items()
    }
    doc: dict[str, Any] = {"version": 1, "cores": spec}
    signaloid = {k: v for k, v in (("api_key", api_key), ("url", url)) if v is not None}
    if signaloid:
        doc["providers"] = {"signaloid": signaloid}
    (folder / "stack.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder


def change(
    address: str, action: str = "update", cause: str | None = "drift", **fields: Any
) -> dict[str, Any]:
    """One change of a plan JSON, made by the engine's own ``Change.to_json`` (so the fleet reads the
    real shape: a cause per field, ``causes`` per change). ``fields``: path -> (before, after), the
    field's cause being the change's, or (before, after, cause)."""
    diffs = tuple(
        FieldDiff(path, values[0], values[1], cause=values[2] if len(values) > 2 else cause)
        for path, values in fields.items()
    )
    return make_change(
        address,
        Action(action),
        "changed outside reconciler",
        cause=Cause(cause) if cause else None,
        remote_id="cor_1",
        fields=diffs,
    ).to_json()


def plan_doc(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": "2", "changes": list(changes), "unmanaged": [], "warnings": [], "errors": []}


def applied_fleet(root: Path, run_cli: Callable[..., Any], count: int) -> list[Path]:
    """``count`` stacks of two cores each under ``root``, each with its own API key, applied by the CLI."""
    folders = []
    for i in range(count):
        cores = {f"s{i}-a": 128, f"s{i}-b": 64}
        folder = write_stack(root / f"team-{i % 2}" / f"env-{i}", cores, api_key=f"key-{i}")
        result = run_cli("apply", "-f", folder, "--auto-approve")
        assert result.exit_code == 0, result
        folders.append(folder)
    return folders


def drift_outside(signaloid_url: str, key: str, core_name: str, precision: int) -> None:
    """Change a core's precision behind reconciler's back, over the emulator's own API (the key's
    user holds the few cores of one stack: they are on the first page)."""
    with httpx2.Client(base_url=signaloid_url, headers={"Authorization": key}, timeout=10) as api:
        cores = api.get("/cores").json()["Cores"]
        core = next(c for c in cores if c["Name"] == core_name)
        assert (
            api.patch(f"/cores/{core['CoreID']}", json=core_patch(core, Precision=precision)).status_code
            == 200
        )
