"""Policy files: found under the paths given, read safely, scanned for their rules.

``--policy PATH`` (or the stack's ``policy.paths``) names a ``.rego`` file or a folder of them
(every ``*.rego`` below it, as conftest reads a folder). OPA's test files (``*_test.rego``) are
left out of a plan's evaluation and read by ``policy test`` only: a test written ``with input
as …`` can crash the engine when merely compiled (docs/policy.md). Every problem is a
:class:`PolicyError` naming the file (and line): a policy that cannot be read never passes a plan.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reconciler.common import paths
from reconciler.common.paths import PathProblem
from reconciler.errors import PolicyError
from reconciler.policy.scan import Scanned, scan

__all__ = ["DECISION_RULE", "MAX_POLICY_BYTES", "PolicyFile", "PolicySet", "load_policy_set", "read_capped"]

MAX_POLICY_BYTES = 4 * 1024 * 1024
MAX_POLICY_FILES = 2000
# conftest's rule names: deny, violation and warn, alone or with a suffix (deny_protected).
DECISION_RULE = re.compile(r"^(deny|violation|warn)(_[A-Za-z0-9_]+)?$")
TEST_SUFFIX = "_test.rego"


@dataclass(frozen=True)
class PolicyFile:
    path: Path
    shown: str  # how messages name it: the path as found under what was given
    text: str
    scanned: Scanned


@dataclass(frozen=True)
class PolicySet:
    """The policies one run evaluates: their files, the package to query, how denials count."""

    given: tuple[str, ...]  # the paths as the user gave them (messages name the policy by these)
    files: tuple[PolicyFile, ...]
    namespace: str = "main"
    enforcement: str = "mandatory"  # or "advisory": denials are reported as warnings

    @property
    def name(self) -> str:
        return ", ".join(self.given)

    def decision_rules(self) -> list[str]:
        """deny/violation/warn rule names of the namespace, each once, in name order."""
        return sorted(
            {
                rule.name
                for f in self.files
                if f.scanned.package == self.namespace
                for rule in f.scanned.rules()
                if DECISION_RULE.match(rule.name)
            }
        )

    def where(self, rule: str) -> list[str]:
        """``file:line`` of each definition of ``rule`` in the namespace."""
        return [
            f"{f.shown}:{s.line}"
            for f in self.files
            if f.scanned.package == self.namespace
            for s in f.scanned.rules()
            if s.name == rule
        ]


def load_policy_set(
    paths: Iterable[Path], *, namespace: str = "main", enforcement: str = "mandatory", tests: bool = False
) -> PolicySet:
    """The policy files under ``paths`` (``tests``: OPA's ``*_test.rego`` files as well), checked:
    a path that does not exist, a folder without policies, or a namespace without a rule is an error."""
    given = list(paths)
    files: list[PolicyFile] = []
    for path in given:
        found = list(_rego_files(path, tests=tests))
        if not found:
            raise PolicyError(
                f"{path}: no policy files in this folder (expected *.rego); an empty policy "
                "folder would pass every plan, so it is an error"
            )
        files.extend(_read(p, p.as_posix()) for p in found)
        if len(files) > MAX_POLICY_FILES:
            raise PolicyError(f"{path}: more than {MAX_POLICY_FILES} policy files")
    policy = PolicySet(tuple(p.as_posix() for p in given), tuple(files), namespace, enforcement)
    if not tests and not policy.decision_rules():
        raise PolicyError(_no_rules(policy))
    return policy


def _no_rules(policy: PolicySet) -> str:
    in_namespace = [f for f in policy.files if f.scanned.package == policy.namespace]
    if in_namespace:
        f = in_namespace[0]
        return (
            f"{f.shown}:{f.scanned.package_line}: package {policy.namespace} has no deny, violation or "
            "warn rule (conftest's names, optionally with a suffix: deny_protected); a policy without "
            "rules would pass every plan, so it is an error"
        )
    packages = ", ".join(
        f"{f.shown}:{f.scanned.package_line} is package {f.scanned.package}" for f in policy.files[:5]
    )
    return (
        f"no policy file is in package {policy.namespace} ({packages}); choose the package with "
        "--policy-namespace (or policy.namespace in the stack)"
    )


def _rego_files(path: Path, *, tests: bool) -> Iterable[Path]:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(mode):
        yield path
        return
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(names):
            if name.endswith(".rego") and (tests or not name.endswith(TEST_SUFFIX)):
                yield Path(folder) / name


def _read(path: Path, shown: str) -> PolicyFile:
    raw = read_capped(path, MAX_POLICY_BYTES, what="policy file")
    if b"\x00" in raw:
        raise PolicyError(f"{shown}: a binary file, not a Rego policy")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(f"{shown}:{line}: not valid UTF-8 text (byte {exc.start})") from exc
    scanned = scan(text)
    if scanned.package is None:
        raise PolicyError(f"{shown}:1: a Rego file starts with its package (`package main`)")
    return PolicyFile(path, shown, text, scanned)


def read_capped(path: Path, cap: int, *, what: str) -> bytes:
    """A regular file's bytes, at most ``cap`` (``common/paths.read_capped``: never blocks on a FIFO
    or a device), or a :class:`PolicyError` saying which ``what`` could not be read and why."""
    try:
        return paths.read_capped(path, cap)
    except PathProblem as exc:
        raise PolicyError(f"{path}: cannot read the {what}: {exc.reason}") from exc
