"""Persistence for the emulators: one JSON document per emulator in a data directory.

Every emulator keeps its whole state in one plain dict and calls :meth:`JsonStore.save`
after each mutation. Writes are atomic (temp file + ``os.replace``) so a killed
process never leaves a half-written file behind. Without a directory the store
is memory-only.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class JsonStore:
    def __init__(self, data_dir: Path | None, name: str) -> None:
        self.path = Path(data_dir) / f"{name}.json" if data_dir is not None else None

    def load(self, default: dict[str, Any]) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return default
        with self.path.open(encoding="utf-8") as fh:
            loaded = json.load(fh)
        return {**default, **loaded}

    def save(self, data: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
