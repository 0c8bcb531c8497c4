"""Recorded API payloads (``tests/fixtures/payloads/<api>/<name>.json``: ``{"source", "payload"}``),
from real runs, the seed samples and the vendors' SDK types, for the provider parse tests."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["FIXTURES", "names", "payload"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


@cache
def _load(api: str, name: str) -> Any:
    doc = json.loads((FIXTURES / api / f"{name}.json").read_text(encoding="utf-8"))
    assert doc.get("source"), f"{api}/{name}.json must say where it was recorded"
    return doc["payload"]


def payload(api: str, name: str) -> Any:
    """A fresh copy of one recorded payload (tests may edit it)."""
    return copy.deepcopy(_load(api, name))


def names(api: str) -> list[str]:
    return sorted(path.stem for path in (FIXTURES / api).glob("*.json"))
