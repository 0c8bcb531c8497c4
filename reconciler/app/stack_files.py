"""Which files make a stack, checked against what its state holds.

State lives beside the first ``-f`` (``config.stack_root``). So ``plan -f a.yaml -f b.yaml``
then ``plan -f a.yaml`` reads the same state, and b.yaml's resources look "no longer declared":
the plan would delete them (a few, under the mass-delete guard). ``declared_beside`` finds the
stack files beside the loaded ones that still declare such resources; the session refuses the
plan, naming them (docs/state.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from reconciler.config import LoadedStack
from reconciler.config.loader import load_file
from reconciler.errors import ReconcilerError
from reconciler.kinds import KINDS_BY_NAME

__all__ = ["declared_beside", "files_problem"]


def _neighbours(loaded: LoadedStack) -> list[Path]:
    """Stack files (``*.yaml``/``*.yml``) in the folders of the loaded ones, not loaded themselves;
    named as the user named those folders."""
    loaded_files = {p.resolve() for p in loaded.files}
    folders = {f.resolve(): f for f in reversed([loaded.root, *(p.parent for p in loaded.files)])}
    found = []
    for folder in sorted(folders.values()):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        found += [
            p
            for p in entries
            if p.suffix in (".yaml", ".yml") and p.is_file() and p.resolve() not in loaded_files
        ]
    return found


def declared_beside(
    loaded: LoadedStack, addresses: Iterable[str], environ: Mapping[str, str]
) -> dict[str, Path]:
    """Of ``addresses``, those a stack file beside the loaded ones declares, with that file. A
    neighbour that does not load (not a stack file, a missing variable) declares nothing."""
    wanted = set(addresses)
    found: dict[str, Path] = {}
    for path in _neighbours(loaded) if wanted else ():
        try:
            data = load_file(path, environ).data
        except (ReconcilerError, OSError):
            continue
        if not isinstance(data, dict):
            continue
        for kind in KINDS_BY_NAME:
            section = data.get(kind)
            if isinstance(section, dict):
                for name in section:
                    address = f"{kind}.{name}"
                    if address in wanted:
                        found.setdefault(address, path)
    return found


def files_problem(declared: Mapping[str, Path], loaded: LoadedStack, state: str) -> str | None:
    """Why the plan is refused, when resources it would delete are declared beside the stack."""
    if not declared:
        return None
    files = sorted({str(p) for p in declared.values()})
    addresses = sorted(declared)
    shown = ", ".join(addresses[:3]) + (f" and {len(addresses) - 3} more" if len(addresses) > 3 else "")
    them = "it" if len(addresses) == 1 else "them"
    where = ", ".join(files)
    every = " ".join([*(f"-f {p}" for p in loaded.files), *(f"-f {f}" for f in files)])
    return (
        f"this plan would delete {shown} as no longer declared, but {where} beside this stack's files "
        f"still {'declares' if len(files) == 1 else 'declare'} {them}: the state ({state}) holds what "
        f"{'that file' if len(files) == 1 else 'those files'} declared too. Plan with every file of the "
        f"stack ({every}), or, to delete {them}, remove {them} from {where} first"
    )
