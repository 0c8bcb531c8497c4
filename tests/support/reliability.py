"""Shared by the reliability tests and ``bench/reliability.py``: all three emulators on one ASGI app, a
stack of many resources across every kind, and an inventory of what lives on the emulators, read
straight through their own HTTP APIs (no reconciler code), to count duplicates and orphans.

    app = combined_app(data_dir)                      # /signaloid/…, /steamship/api/v1/…, /scramjet/api/v1/…
    with serve_app(FaultInjector(app, config)) as base:
        write_stack(folder, base, spread(200))
        env = environ(base)                           # SIGNALOID_API_URL, STEAMSHIP_API_BASE, keys
        ...
        inventory = Inventory(base)                   # through a clean server, not the faulty one
        problems = inventory.check(state_ids(folder), before=baseline)
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml
from starlette.applications import Starlette
from starlette.routing import Mount

from reconciler.sandbox import scramjet, signaloid, steamship

__all__ = [
    "KIND_ORDER",
    "SIGNALOID_KEY",
    "STEAMSHIP_KEY",
    "Inventory",
    "combined_app",
    "environ",
    "spread",
    "stack_doc",
    "state_ids",
    "write_stack",
]

SIGNALOID_KEY = "reliability-signaloid-key"
STEAMSHIP_KEY = "reliability-steamship-key"
COUNTER = Path(__file__).resolve().parent / "sequences" / "counter"
# Share of each kind in a stack of N resources (sequences are few: each one is a package upload).
KIND_ORDER = ("cores", "repositories", "webhooks", "workspaces", "package_instances", "sequences")
_WEIGHTS = {"cores": 30, "repositories": 25, "webhooks": 20, "workspaces": 8, "package_instances": 12,
            "sequences": 5}  # fmt: skip
HTTP = {"max_retries": 8, "retry_budget_s": 30, "timeout_s": 10}


def combined_app(
    data_dir: Path | None,
    *,
    page_size: int = 50,
    signaloid_key: str = SIGNALOID_KEY,
    steamship_key: str = STEAMSHIP_KEY,
    scramjet_token: str | None = None,
) -> Starlette:
    """The three emulators on one app, fast (Steamship inits and tasks take 20 ms)."""
    return Starlette(
        routes=[
            Mount(
                "/signaloid", app=signaloid.create_app(data_dir, api_key=signaloid_key, page_size=page_size)
            ),
            Mount(
                "/steamship",
                app=steamship.create_app(
                    data_dir, api_key=steamship_key, init_seconds=0.02, task_seconds=0.02
                ),
            ),
            Mount("/scramjet", app=scramjet.create_app(data_dir, name="local", token=scramjet_token)),
        ]
    )


def environ(base: str) -> dict[str, str]:
    return {
        "SIGNALOID_API_URL": f"{base}/signaloid",
        "SIGNALOID_API_KEY": SIGNALOID_KEY,
        "STEAMSHIP_API_BASE": f"{base}/steamship/api/v1/",
        "STEAMSHIP_API_KEY": STEAMSHIP_KEY,
    }


def spread(total: int, kinds: tuple[str, ...] = KIND_ORDER) -> dict[str, int]:
    """``total`` resources over ``kinds`` by weight (at least one each; instances need workspaces)."""
    weights = {k: _WEIGHTS[k] for k in kinds}
    counts = {k: max(1, total * w // sum(weights.values())) for k, w in weights.items()}
    counts[kinds[0]] += total - sum(counts.values())
    return counts


CORE = {"class": "C0", "microarchitecture": "Athens", "memory_size": 256000,
        "correlation_tracking": "Autocorrelation"}  # fmt: skip
WEBHOOK = {"events": ["task-status", "build-status"], "description": "reliability", "status": "active"}


def stack_doc(counts: Mapping[str, int], base: str, prefix: str = "r") -> dict[str, Any]:
    """Resources with dependencies: repositories on cores, package instances in workspaces."""
    n = {k: counts.get(k, 0) for k in KIND_ORDER}
    doc: dict[str, Any] = {"version": 1, "providers": {
        "signaloid": {"http": HTTP},
        "steamship": {"http": HTTP, "wait_timeout_s": 30},
        "scramjet": {"hubs": {"local": {"url": f"{base}/scramjet/api/v1", "http": HTTP}},
                     "health_check_s": 0},
    }}  # fmt: skip
    if n["cores"]:
        doc["cores"] = {f"{prefix}-core-{i}": {**CORE, "precision": 32 + i % 64} for i in range(n["cores"])}
    if n["repositories"]:
        doc["repositories"] = {
            f"{prefix}-repo-{i}": {
                "remote_url": f"https://github.com/acme/{prefix}-repo-{i}",
                "branch": "main",
                "build_directory": "src",
                **({"core": f"{prefix}-core-{i % n['cores']}"} if n["cores"] else {}),
            }
            for i in range(n["repositories"])
        }
    if n["webhooks"]:
        doc["webhooks"] = {
            f"{prefix}-hook-{i}": {"url": f"https://hooks.example.com/{prefix}/{i}", **WEBHOOK}
            for i in range(n["webhooks"])
        }
    if n["workspaces"]:
        doc["workspaces"] = {f"{prefix}-ws-{i}": {} for i in range(n["workspaces"])}
    if n["package_instances"] and n["workspaces"]:
        doc["package_instances"] = {
            f"{prefix}-pi-{i}": {"workspace": f"{prefix}-ws-{i % n['workspaces']}", "package": "hello-world"}
            for i in range(n["package_instances"])
        }
    if n["sequences"]:
        doc["sequences"] = {
            f"{prefix}-seq-{i}": {"hub": "local", "package": f"./packages/{prefix}-seq-{i}"}
            for i in range(n["sequences"])
        }
    return doc


def write_stack(folder: Path, doc: Mapping[str, Any]) -> Path:
    """``stack.yaml`` and, per sequence, a package whose package.json name is the sequence's name."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in doc.get("sequences", {}):
        target = folder / "packages" / name
        if not target.exists():
            shutil.copytree(COUNTER, target)
            meta = json.loads((target / "package.json").read_text(encoding="utf-8"))
            (target / "package.json").write_text(json.dumps({**meta, "name": name}), encoding="utf-8")
    path = folder / "stack.yaml"
    path.write_text(yaml.safe_dump(dict(doc), sort_keys=False), encoding="utf-8")
    return path


def state_ids(folder: Path) -> dict[str, str]:
    """address -> remote id, from ``.reconciler/state.json``."""
    path = folder / ".reconciler" / "state.json"
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {address: entry["remote_id"] for address, entry in doc["resources"].items()}


@dataclass
class Snapshot:
    """Live objects per kind: (natural key, remote id as state records it)."""

    objects: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict)

    def ids(self) -> set[str]:
        return {rid for items in self.objects.values() for _, rid in items}

    def duplicates(self) -> dict[str, dict[tuple[str, ...], int]]:
        found = {}
        for kind, items in self.objects.items():
            counts = Counter(key for key, _ in items)
            extra = {key: n for key, n in counts.items() if n > 1}
            if extra:
                found[kind] = extra
        return found

    def count(self) -> int:
        return sum(len(items) for items in self.objects.values())


class Inventory:
    """Every live object of the three emulators, by natural key, through their HTTP APIs."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.client = httpx2.Client(timeout=10)

    def close(self) -> None:
        self.client.close()

    def _signaloid_pages(self, path: str, items_key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        for _ in range(10_000):
            response = self.client.get(
                f"{self.base}/signaloid{path}", params=params, headers={"Authorization": SIGNALOID_KEY}
            )
            response.raise_for_status()
            page = response.json()
            items.extend(page[items_key])
            if not page.get("ContinuationKey"):
                return items
            params["startKey"] = page["ContinuationKey"]
        raise AssertionError(f"GET {path} never stopped paging")

    def _steamship(self, operation: str, items_key: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request = {**body, "pageSize": 100}
        for _ in range(10_000):
            response = self.client.post(
                f"{self.base}/steamship/api/v1/{operation}",
                json=request,
                headers={"Authorization": f"Bearer {STEAMSHIP_KEY}"},
            )
            response.raise_for_status()
            page = response.json()["data"]
            items.extend(page[items_key])
            if not page.get("nextPageToken"):
                return items
            request["pageToken"] = page["nextPageToken"]
        raise AssertionError(f"{operation} never stopped paging")

    def snapshot(self) -> Snapshot:
        snap = Snapshot()
        snap.objects["cores"] = [
            ((c["Name"],), c["CoreID"]) for c in self._signaloid_pages("/cores", "Cores")
        ]
        snap.objects["repositories"] = [
            ((r["RemoteURL"], r["Branch"]), r["RepositoryID"])
            for r in self._signaloid_pages("/repositories", "Repositories")
        ]
        hooks = self.client.get(f"{self.base}/signaloid/webhooks", headers={"Authorization": SIGNALOID_KEY})
        hooks.raise_for_status()
        snap.objects["webhooks"] = [((h["URL"],), h["WebhookID"]) for h in hooks.json()["webhooks"]]
        snap.objects["workspaces"] = [
            ((w["handle"],), w["id"]) for w in self._steamship("workspace/list", "workspaces", {})
        ]
        instances = self._steamship("package/instance/list", "packageInstances", {"acrossWorkspaces": True})
        snap.objects["package_instances"] = [
            ((i["workspaceHandle"], i["handle"]), i["id"]) for i in instances
        ]
        sequences = self.client.get(f"{self.base}/scramjet/api/v1/sequences")
        sequences.raise_for_status()
        snap.objects["sequences"] = [
            (("local", s["config"]["name"]), f"local/{s['id']}") for s in sequences.json()
        ]
        return snap

    def check(self, state: Mapping[str, str], desired: int, before: Snapshot | None = None) -> dict[str, Any]:
        """Duplicates, orphans (live, made by the run, not in state) and lost state (in state, not live)."""
        snap = self.snapshot()
        live = snap.ids() - (before.ids() if before else set())
        recorded = set(state.values())
        return {
            "live": len(live),
            "state": len(state),
            "desired": desired,
            "duplicates": snap.duplicates(),
            "orphans": sorted(live - recorded),
            "lost": sorted(recorded - snap.ids()),
        }
