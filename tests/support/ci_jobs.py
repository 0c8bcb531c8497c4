"""Running a CI recipe's jobs, every line as written, with few, visible substitutions.

``Job`` runs a job's steps in order (``bash -eo pipefail -c STEP`` as GitHub and GitLab run a step,
or the shell the recipe itself names, e.g. a pod's ``/bin/sh -c``) in a checkout, with the throwaway
runner virtualenv's ``python`` first on PATH and the stubs of ``tests/support/ci_runner.py``.

What is substituted, and nothing else:
- ``$RECONCILER_INSTALL`` (this project at a release tag) → a wheel built from this checkout, installed
  with ``PIP_NO_DEPS=1 PIP_NO_INDEX=1`` (the dependencies come from the test environment);
- ``${{ expression }}`` → the job's ``values`` (secrets, ``matrix.shard``…); an expression without a
  value is a KeyError, never an empty string;
- the secrets and the state backend by ``environment`` (test values; the local state file, as the
  recipes' PostgreSQL has its own tests).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.examples import pristine_example

__all__ = [
    "TAGGED_INSTALL",
    "CiTools",
    "Job",
    "Steps",
    "environment",
    "github_steps",
    "gitlab_steps",
    "install_lines",
    "load",
    "workspace",
]

EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
# This project pinned to a release tag; `pip install reconciler` is an unrelated PyPI package.
TAGGED_INSTALL = re.compile(r"reconciler-iac @ git\+https://\S+@v\d+\.\d+\.\d+")
BASH = ("bash", "-eo", "pipefail", "-c")

Steps = list[tuple[str, dict[str, Any]]]
CiTools = tuple[Path, Path, Path]  # (the built wheel, the runner venv's bin/, the stubs' folder)


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    return doc


def github_steps(doc: dict[str, Any], job: str) -> Steps:
    return [(s["run"], s.get("env") or {}) for s in doc["jobs"][job]["steps"] if "run" in s]


def gitlab_steps(doc: dict[str, Any], job: str) -> Steps:
    """One step: GitLab runs ``before_script`` and ``script`` lines in one shell (``set -eo
    pipefail``), so a variable one line sets is there for the next."""
    lines = [*doc.get("default", {}).get("before_script", []), *doc[job]["script"]]
    return [("\n".join(line.rstrip("\n") for line in lines), {})]


def install_lines(text: str) -> list[str]:
    """What every ``pip install`` of a recipe installs, options left out (``"$RECONCILER_INSTALL"``)."""
    found = re.findall(r"pip install (.+)", text)
    return [" ".join(word for word in line.split() if not word.startswith("-")) for line in found]


class Job:
    """Runs a job's steps in order in ``work``; the first failing step fails the job."""

    def __init__(
        self, work: Path, env: dict[str, str], tools: CiTools, values: Mapping[str, str] | None = None
    ) -> None:
        wheel, python_bin, stubs = tools
        self.work, self.log = work, work.parent / "stub.log"
        self.values = dict(values or {})
        self.env = {**env, "RECONCILER_INSTALL": str(wheel), "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1",
                    "PIP_DISABLE_PIP_VERSION_CHECK": "1", "STUB_LOG": str(self.log),
                    "REVIEWED_PLAN": str(work.parent / "reviewed-plan.json"),
                    "PATH": f"{stubs}{os.pathsep}{python_bin}{os.pathsep}/usr/bin:/bin"}  # fmt: skip

    def run(
        self, steps: Steps, *, shell: Sequence[str] = BASH, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The steps in order (``env``: extra variables, e.g. what the runner sets for one job)."""
        result: subprocess.CompletedProcess[str] | None = None
        for script, step_env in steps:
            full = {**self.env, **(env or {}), **{k: self.value(v) for k, v in step_env.items()}}
            result = subprocess.run([*shell, self.value(script)], cwd=self.work, env=full,
                                    capture_output=True, text=True, timeout=180)  # fmt: skip
            if result.returncode != 0:
                return result
        assert result is not None
        return result

    def value(self, text: Any) -> str:
        return EXPRESSION.sub(lambda m: self.values[m.group(1)], str(text))

    def stub_calls(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def environment(
    declared: Mapping[str, Any], values: Mapping[str, str], *, signaloid_url: str, api_key: str, hook_url: str
) -> dict[str, str]:
    """The recipe's variables as a CI runner would set them, with test values for the secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALOID_", "RECONCILER_", "PIP_"))}
    env.pop("VIRTUAL_ENV", None)
    for name, value in declared.items():
        if value is None:  # set by the platform (a Kubernetes fieldRef): the test sets it
            continue
        text = str(value)
        env[name] = hook_url if "DRIFT_WEBHOOK_URL" in text else EXPRESSION.sub(lambda m: values[m[1]], text)
    env.update(SIGNALOID_API_URL=signaloid_url, SIGNALOID_API_KEY=api_key, DRIFT_WEBHOOK_URL=hook_url)
    env["RECONCILER_STATE_BACKEND"] = "local"
    return env


def workspace(tmp_path: Path, folder: str) -> Path:
    """A checkout holding the recipe's stack (or fleet) folder at the same relative path."""
    work = tmp_path / "checkout"
    assert folder.startswith("examples/"), folder
    pristine_example(folder.removeprefix("examples/"), work)
    return work
