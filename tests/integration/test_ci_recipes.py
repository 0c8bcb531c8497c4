"""The CI recipes in ``examples/ci/`` are valid YAML, refer to files that exist, and their
``reconciler …`` command lines work: each is run as written (bash, the recipe's variables) against
the emulator served on loopback, with a local HTTP receiver standing in for the drift webhook.

What is substituted: ``${{ secrets.* }}`` / CI variables get test values, and the state backend is
the local file (the recipes select PostgreSQL, which has its own tests). Nothing else is changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.integration.conftest import API_KEY, RECONCILER_BIN, Sandbox
from tests.support.servers import serve_app

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "examples" / "ci"
GITHUB = RECIPES / "github"
GITLAB = RECIPES / "gitlab" / ".gitlab-ci.yml"
ALL = sorted([*GITHUB.glob("*.yml"), GITLAB])
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    reports: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        reports.append(await request.json())
        return JSONResponse({"ok": True})

    with serve_app(Starlette(routes=[Route("/hook/{token}", hook, methods=["POST"])])) as base:
        yield f"{base}/hook/T0KEN-abcdef123456", reports


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    return doc


def github_commands(doc: dict[str, Any], job: str) -> list[str]:
    runs = [step["run"] for step in doc["jobs"][job]["steps"] if "run" in step]
    return [line for run in runs for line in _lines(run) if line.startswith("reconciler ")]


def gitlab_commands(doc: dict[str, Any], job: str) -> list[str]:
    return [
        " ".join(s.split("\n")).strip() for s in doc[job]["script"] if s.strip().startswith("reconciler ")
    ]


def _lines(script: str) -> list[str]:
    return [line.strip() for line in script.replace("\\\n", " ").splitlines() if line.strip()]


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def environment(declared: dict[str, Any], sandbox: Sandbox, hook_url: str) -> dict[str, str]:
    """The recipe's variables as a CI runner would set them, with test values for the secrets."""
    secrets = {"secrets.SIGNALOID_API_KEY": API_KEY, "secrets.SIGNALOID_API_KEY_READONLY": API_KEY,
               "secrets.DRIFT_WEBHOOK_URL": hook_url, "secrets.RECONCILER_PG_DSN": ""}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALOID_", "RECONCILER_"))}
    for name, value in declared.items():
        env[name] = EXPRESSION.sub(lambda m: secrets[m.group(1)], str(value))
    env.update(SIGNALOID_API_URL=sandbox.signaloid_url, SIGNALOID_API_KEY=API_KEY, DRIFT_WEBHOOK_URL=hook_url)
    env["RECONCILER_STATE_BACKEND"] = "local"
    env["PATH"] = f"{RECONCILER_BIN.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def workspace(tmp_path: Path, stack_dir: str) -> Path:
    """A checkout: the recipe's stack folder at the same relative path."""
    work = tmp_path / "checkout"
    shutil.copytree(ROOT / stack_dir, work / stack_dir, ignore=shutil.ignore_patterns(".reconciler"))
    return work


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(RECIPES)))
def test_recipes_are_valid_yaml_and_refer_to_files_that_exist(path: Path) -> None:
    doc = load(path)
    text = path.read_text(encoding="utf-8")
    variables = doc.get("env") or doc.get("variables") or {}
    assert (ROOT / variables["STACK_DIR"]).is_dir(), "STACK_DIR must be a stack folder of this repository"
    for workflow in re.findall(r"--workflow (\S+)", text):
        assert (path.parent / workflow).is_file(), f"{workflow} is not a recipe next to {path.name}"
    for action in re.findall(r"uses: (\S+)", text):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", action), action
    commands = re.findall(r"\breconciler (?:plan|apply|drift) -f", text)
    assert commands, "a recipe runs reconciler"
    assert "--sandbox" not in text, "recipes run against the real APIs"


def test_github_workflow_triggers() -> None:
    plan_apply, drift = load(GITHUB / "reconciler.yml"), load(GITHUB / "reconciler-drift.yml")
    on = plan_apply.get("on", plan_apply.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"pull_request", "push"} and on["push"]["branches"] == ["main"]
    assert "schedule" in drift.get("on", drift.get(True))
    artifact = [
        s for s in plan_apply["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/upload")
    ]
    assert artifact[0]["with"]["path"] == "plan.json"


def _check_flow(
    plans: list[str], applies: list[str], drifts: list[str], work: Path, env: dict[str, str],
    sandbox: Sandbox, reports: list[dict[str, Any]],
) -> None:  # fmt: skip
    (plan_cmd,) = plans
    assert "--out plan.json" in plan_cmd and "--format markdown" in plan_cmd
    result = run(plan_cmd, work, env)
    assert result.returncode == 0, result  # exit 2 (changes) is a success for the job
    assert "### reconciler plan" in (work / "plan.md").read_text(encoding="utf-8")
    assert not sandbox.api.objects("cores"), "plan writes nothing"

    (apply_cmd,) = applies
    result = run(apply_cmd, work, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {c["Name"] for c in sandbox.api.objects("cores")} == {"fast-athens", "reference-wide"}

    (drift_cmd,) = drifts
    result = run(drift_cmd, work, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert reports[-1]["drifted"] is False
    assert "T0KEN-abcdef123456" not in result.stdout + result.stderr

    core = next(c for c in sandbox.api.objects("cores") if c["Name"] == "fast-athens")
    body = {k: core[k] for k in ("Name", "Class", "Microarchitecture", "MemorySize", "CorrelationTracking")}
    assert (
        sandbox.api.client.patch(f"/cores/{core['CoreID']}", json={**body, "Precision": 64}).status_code
        == 200
    )
    result = run(drift_cmd, work, env)
    assert result.returncode == 2, result.stdout + result.stderr  # the scheduled job fails on drift
    assert reports[-1]["drifted"] is True
    (change,) = [c for c in reports[-1]["changes"] if c["action"] != "noop"]
    assert (change["address"], change["cause"]) == ("cores.fast-athens", "drift")


def test_github_recipes_run_against_the_sandbox(
    sandbox_server: Sandbox, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    hook_url, reports = receiver
    plan_apply, drift = load(GITHUB / "reconciler.yml"), load(GITHUB / "reconciler-drift.yml")
    work = workspace(tmp_path, plan_apply["env"]["STACK_DIR"])
    env = environment({**plan_apply["env"], **drift["env"]}, sandbox_server, hook_url)
    _check_flow(github_commands(plan_apply, "plan"), github_commands(plan_apply, "apply"),
                github_commands(drift, "drift"), work, env, sandbox_server, reports)  # fmt: skip


def test_gitlab_recipe_runs_against_the_sandbox(
    sandbox_server: Sandbox, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    hook_url, reports = receiver
    doc = load(GITLAB)
    work = workspace(tmp_path, doc["variables"]["STACK_DIR"])
    env = environment(doc["variables"], sandbox_server, hook_url)
    _check_flow(gitlab_commands(doc, "plan"), gitlab_commands(doc, "apply"), gitlab_commands(doc, "drift"),
                work, env, sandbox_server, reports)  # fmt: skip
