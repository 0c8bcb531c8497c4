"""A Signaloid stack folder and the emulator's own HTTP API, for integration tests.

- ``StackDir``: writes ``stack.yaml`` (cores, repositories, webhooks) and reads the state file;
- ``SignaloidApi``: a plain httpx2 client over the emulator's HTTP API, to check what the CLI did (or
  to create objects behind its back) without going through any of our code;
- ``CORE``, ``WEBHOOK``, ``repository()``: valid specs; ``API_KEY``: the key the sandbox is served with.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import yaml

from tests.support.signaloid_casing import to_pascal

__all__ = [
    "API_KEY",
    "CORE",
    "CORE_PATCH_FIELDS",
    "WEBHOOK",
    "SignaloidApi",
    "StackDir",
    "core_patch",
    "repository",
]

# PATCH /cores/{id} takes all six (the seed marks each required; the SDK's CorePatchRequest).
CORE_PATCH_FIELDS = ("Name", "Class", "Precision", "MemorySize", "Microarchitecture", "CorrelationTracking")


def core_patch(core: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A PATCH /cores body: the core's six fields as listed (either casing), with ``changes``."""
    pascal = to_pascal(core)
    return {**{name: pascal[name] for name in CORE_PATCH_FIELDS}, **changes}


API_KEY = "integration-test-key"

CORE: dict[str, Any] = {
    "class": "C0",
    "microarchitecture": "Athens",
    "precision": 128,
    "memory_size": 256000,
    "correlation_tracking": "Autocorrelation",
}
WEBHOOK: dict[str, Any] = {"events": ["task-status", "build-status"], "description": "CI", "status": "active"}


def repository(url: str, core: str | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"remote_url": url, "branch": "main", "commit": "HEAD", "build_directory": "src"}
    if core is not None:
        spec["core"] = core
    return {**spec, **extra}


class StackDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path / "stack.yaml"
        self.state_path = path / ".reconciler" / "state.json"

    def write(
        self,
        cores: dict[str, Any] | None = None,
        repositories: dict[str, Any] | None = None,
        webhooks: dict[str, Any] | None = None,
        http: dict[str, Any] | None = None,
        **providers: Any,
    ) -> Path:
        """Write ``stack.yaml`` with these resources (and ``providers.signaloid`` settings)."""
        doc: dict[str, Any] = {"version": 1}
        signaloid = {**providers, **({"http": http} if http else {})}
        if signaloid:
            doc["providers"] = {"signaloid": signaloid}
        for section, items in (("cores", cores), ("repositories", repositories), ("webhooks", webhooks)):
            if items:
                doc[section] = items
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return self.file

    def state_text(self) -> str:
        return self.state_path.read_text(encoding="utf-8") if self.state_path.exists() else ""

    def state(self) -> dict[str, str]:
        """address -> remote id, as recorded in ``.reconciler/state.json``."""
        if not self.state_path.exists():
            return {}
        doc = json.loads(self.state_text())
        return {address: entry["remote_id"] for address, entry in doc["resources"].items()}


_LISTS = {"cores": ("/cores", "Cores"), "repositories": ("/repositories", "Repositories")}
_IDS = {"cores": "CoreID", "repositories": "RepositoryID", "webhooks": "WebhookID"}


class SignaloidApi:
    """Straight HTTP to the emulator (no reconciler code), for checks and out-of-band changes."""

    def __init__(self, url: str, key: str = API_KEY) -> None:
        self.client = httpx2.Client(base_url=url, headers={"Authorization": key}, timeout=10)

    def close(self) -> None:
        self.client.close()

    def objects(self, kind: str) -> list[dict[str, Any]]:
        if kind == "webhooks":
            response = self.client.get("/webhooks")
            response.raise_for_status()
            return list(to_pascal(response.json()["webhooks"]))
        path, items_key = _LISTS[kind]
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        for _ in range(1000):
            response = self.client.get(path, params=params)
            response.raise_for_status()
            page = response.json()
            items.extend(to_pascal(page[items_key]))
            if not page.get("ContinuationKey"):
                return items
            params["startKey"] = page["ContinuationKey"]
        raise AssertionError(f"GET {path} never stopped paging")

    def ids(self, kind: str) -> set[str]:
        return {item[_IDS[kind]] for item in self.objects(kind)}

    def by_id(self, kind: str) -> dict[str, dict[str, Any]]:
        return {item[_IDS[kind]]: item for item in self.objects(kind)}

    def key_counts(self, kind: str) -> Counter[tuple[str, ...]]:
        """How many live objects share each natural key (anything above 1 is a duplicate)."""
        keys = {
            "cores": lambda o: (o["Name"],),
            "repositories": lambda o: (o["RemoteURL"], o["Branch"]),
            "webhooks": lambda o: (o["URL"],),
        }[kind]
        return Counter(keys(o) for o in self.objects(kind))

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        path = {"cores": "/cores", "repositories": "/repositories", "webhooks": "/webhooks"}[kind]
        response = self.client.post(path, json=body)
        assert response.status_code == 201, response.text
        return dict(to_pascal(response.json()))

    def create_core(self, name: str, precision: int = 128) -> str:
        body = {"Name": name, "Class": "C0", "Microarchitecture": "Athens", "Precision": precision,
                "MemorySize": 256000, "CorrelationTracking": "autocorrelation"}  # fmt: skip
        return str(self.create("cores", body)["CoreID"])

    def create_repository(self, url: str, core: str | None = None) -> str:
        body = {"RemoteURL": url, "Branch": "main", "Commit": "HEAD", "BuildDirectory": "src"}
        if core:
            body["Core"] = core
        return str(self.create("repositories", body)["RepositoryID"])

    def create_webhook(self, url: str) -> str:
        body = {"url": url, "events": WEBHOOK["events"], "description": WEBHOOK["description"]}
        return str(self.create("webhooks", body)["WebhookID"])
