"""The examples as shipped, never the user's working copy of them.

The README asks a new user to edit ``examples/quickstart/stack.yaml`` (``precision: 256``) and to
apply it, which leaves sandbox data in ``.reconciler/``; the README's test command must still pass
after that. So tests copy an example from git's index (what is committed, or staged by a developer),
not from the working tree; outside a git checkout (an unpacked release), from the files as they are.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["ROOT", "example_file", "pristine_example"]

ROOT = Path(__file__).resolve().parents[2]


def _tracked(relative: str) -> list[str] | None:
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--", relative],
            capture_output=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    files = [f for f in listed.decode().split("\0") if f]
    return files or None


def pristine_example(name: str, dest: Path) -> Path:
    """Copy ``examples/<name>`` as shipped to ``dest/examples/<name>``; returns that folder."""
    relative = f"examples/{name}"
    files = _tracked(relative)
    if files is None:
        shutil.copytree(ROOT / relative, dest / relative, ignore=shutil.ignore_patterns(".reconciler"))
    else:
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "-C", str(ROOT), "checkout-index", f"--prefix={dest.resolve()}/", "--", *files],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    return dest / relative


def example_file(relative: str) -> str:
    """One file of the examples as shipped (``"examples/steamship/stack.yaml"``)."""
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "show", f":{relative}"], capture_output=True, check=True, timeout=30
        ).stdout.decode("utf-8")
    except (OSError, subprocess.CalledProcessError):
        return (ROOT / relative).read_text(encoding="utf-8")
