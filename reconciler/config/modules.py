"""Modules are read once per process: a folder's stack files, merged, kept while unchanged.

A fleet of stacks (``drift --stacks``) calling one module parses it once, however many stacks and
calls use it: evaluation (config/evaluate.py) never changes a loaded tree, so every call shares it.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.config.loader import LoadedFile, MarkedDict, load_file, stack_files
from reconciler.config.merge import merge_files

__all__ = ["LoadedModule", "cache_info", "load_module"]

_MODULE_CACHE_SIZE = 256


@dataclass(frozen=True)
class LoadedModule:
    files: list[LoadedFile]
    document: MarkedDict


_cache: OrderedDict[Path, tuple[tuple[Any, ...], LoadedModule]] = OrderedDict()
_stats = {"hits": 0, "misses": 0}


def cache_info() -> dict[str, int]:
    """Module folders read from disk (misses) and reused (hits) in this process."""
    return {**_stats, "size": len(_cache)}


def load_module(folder: Path, resolved: Path, environ: Mapping[str, str]) -> LoadedModule:
    """The merged files of a module folder (``resolved``: its real path, the cache's key): read and
    parsed once while they (and the environment variables they read) are unchanged."""
    paths = stack_files([folder])
    fingerprint = tuple(_stat(p) for p in paths)
    hit = _cache.get(resolved)
    if hit is not None and hit[0] == fingerprint and _same_environ(hit[1].files, environ):
        _cache.move_to_end(resolved)
        _stats["hits"] += 1
        return hit[1]
    _stats["misses"] += 1
    files = [load_file(p, environ) for p in paths]
    module = LoadedModule(files, merge_files(files))
    _cache[resolved] = (fingerprint, module)
    if len(_cache) > _MODULE_CACHE_SIZE:
        _cache.popitem(last=False)
    return module


def _stat(path: Path) -> tuple[str, int, int, int]:
    st = os.stat(path)
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def _same_environ(files: list[LoadedFile], environ: Mapping[str, str]) -> bool:
    return all(environ.get(name) == seen for f in files for name, seen in f.environ_read.items())
