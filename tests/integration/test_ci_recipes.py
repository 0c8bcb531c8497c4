"""The CI recipes in ``examples/ci/`` run as written, every line of every job, install line included.

Each job's lines run in order under bash (``-eo pipefail``, as GitHub runs a step; a GitLab script
line likewise), in a checkout of the recipe's stack folder, with a fresh virtualenv's ``python`` first
on PATH, against the emulators served on loopback and a local receiver standing in for the webhook.

What is substituted, and nothing else:
- ``$RECONCILER_INSTALL`` (this project at a release tag) → a wheel built from this checkout, installed
  with ``PIP_NO_DEPS=1 PIP_NO_INDEX=1`` (the dependencies come from the test environment);
- ``gh``, ``curl`` and ``apt-get`` → stubs that record their arguments (tests/support/ci_runner.py);
  downloading the reviewed plan copies the one the plan job saved;
- ``${{ secrets.* }}`` / CI variables → test values; the state backend → the local file (the recipes
  select PostgreSQL, which has its own tests).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.ci_jobs import (
    TAGGED_INSTALL,
    CiTools,
    Job,
    Steps,
    github_steps,
    gitlab_steps,
    install_lines,
    load,
    workspace,
)
from tests.support.ci_jobs import environment as job_environment
from tests.support.sandbox import Sandbox
from tests.support.servers import serve_app
from tests.support.signaloid import API_KEY

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "examples" / "ci"
GITHUB = RECIPES / "github"
GITLAB = RECIPES / "gitlab" / ".gitlab-ci.yml"
ALL = sorted([*GITHUB.glob("*.yml"), GITLAB])
VALUES = {"secrets.SIGNALOID_API_KEY": API_KEY, "secrets.SIGNALOID_API_KEY_READONLY": API_KEY,
          "secrets.RECONCILER_PG_DSN": "", "github.token": "gh-test-token",
          "github.event.pull_request.number": "7", "github.ref": "refs/heads/main"}  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    reports: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        reports.append(await request.json())
        return JSONResponse({"ok": True})

    with serve_app(Starlette(routes=[Route("/hook/{token}", hook, methods=["POST"])])) as base:
        yield f"{base}/hook/T0KEN-abcdef123456", reports


def environment(declared: dict[str, Any], sandbox: Sandbox, hook_url: str) -> dict[str, str]:
    return job_environment(
        declared, VALUES, signaloid_url=sandbox.signaloid_url, api_key=API_KEY, hook_url=hook_url
    )


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


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(RECIPES)))
def test_recipes_install_this_project_pinned_never_the_pypi_namesake(path: Path) -> None:
    doc = load(path)
    variables = doc.get("env") or doc.get("variables") or {}
    assert TAGGED_INSTALL.fullmatch(variables["RECONCILER_INSTALL"]), variables["RECONCILER_INSTALL"]
    installs = install_lines(path.read_text(encoding="utf-8"))
    assert installs and set(installs) == {'"$RECONCILER_INSTALL"'}, installs
    image = str(doc.get("default", {}).get("image", ""))
    if image.endswith("-slim"):  # a git+https install needs git, which slim images lack
        assert re.search(r"apt-get install .*\bgit\b", path.read_text(encoding="utf-8")), image


def test_github_workflow_triggers() -> None:
    plan_apply, drift = load(GITHUB / "reconciler.yml"), load(GITHUB / "reconciler-drift.yml")
    on = plan_apply.get("on") or plan_apply[True]  # type: ignore[index]  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"pull_request", "push"} and on["push"]["branches"] == ["main"]
    assert "schedule" in (drift.get("on") or drift[True])  # type: ignore[index]
    artifact = [
        s for s in plan_apply["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/upload")
    ]
    assert artifact[0]["with"]["path"] == "plan.json"


def _check_flow(
    plan: Steps, apply: Steps, drift: Steps, job: Job, sandbox: Sandbox, reports: list[dict[str, Any]]
) -> None:
    work = job.work
    result = job.run(plan)
    assert result.returncode == 0, result  # exit 2 (changes) is a success for the job
    assert "### reconciler plan" in (work / "plan.md").read_text(encoding="utf-8")
    assert "--body" in job.stub_calls() or "notes" in job.stub_calls(), "the plan is posted for review"
    assert not sandbox.api.objects("cores"), "plan writes nothing"
    shutil.copy(work / "plan.json", work.parent / "reviewed-plan.json")  # the artifact
    (work / "plan.json").unlink()

    result = job.run(apply)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {c["Name"] for c in sandbox.api.objects("cores")} == {"fast-athens", "reference-wide"}

    result = job.run(drift)
    assert result.returncode == 0, result.stdout + result.stderr
    assert reports[-1]["drifted"] is False
    assert "T0KEN-abcdef123456" not in result.stdout + result.stderr

    core = next(c for c in sandbox.api.objects("cores") if c["Name"] == "fast-athens")
    body = {k: core[k] for k in ("Name", "Class", "Microarchitecture", "MemorySize", "CorrelationTracking")}
    assert (
        sandbox.api.client.patch(f"/cores/{core['CoreID']}", json={**body, "Precision": 64}).status_code
        == 200
    )
    result = job.run(drift)
    assert result.returncode == 2, result.stdout + result.stderr  # the scheduled job fails on drift
    assert reports[-1]["drifted"] is True
    (change,) = [c for c in reports[-1]["changes"] if c["pending"]]
    assert (change["address"], change["cause"]) == ("cores.fast-athens", "drift")


def test_github_recipes_run_against_the_sandbox(
    sandbox_server: Sandbox, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path,
    ci_tools: CiTools,
) -> None:  # fmt: skip
    hook_url, reports = receiver
    plan_apply, drift = load(GITHUB / "reconciler.yml"), load(GITHUB / "reconciler-drift.yml")
    work = workspace(tmp_path, plan_apply["env"]["STACK_DIR"])
    env = environment({**plan_apply["env"], **drift["env"]}, sandbox_server, hook_url)
    job = Job(work, env, ci_tools, VALUES)
    _check_flow(github_steps(plan_apply, "plan"), github_steps(plan_apply, "apply"),
                github_steps(drift, "drift"), job, sandbox_server, reports)  # fmt: skip


def test_gitlab_recipe_runs_against_the_sandbox(
    sandbox_server: Sandbox, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path,
    ci_tools: CiTools,
) -> None:  # fmt: skip
    hook_url, reports = receiver
    doc = load(GITLAB)
    work = workspace(tmp_path, doc["variables"]["STACK_DIR"])
    job = Job(work, environment(doc["variables"], sandbox_server, hook_url), ci_tools, VALUES)
    _check_flow(gitlab_steps(doc, "plan"), gitlab_steps(doc, "apply"), gitlab_steps(doc, "drift"),
                job, sandbox_server, reports)  # fmt: skip


def test_a_typo_in_the_plan_line_fails_the_job(tmp_path: Path, ci_tools: CiTools) -> None:
    """The recipes' own pattern: `… --detailed-exitcode > plan.md || [ $? -eq 2 ]` must not pass a typo."""
    work = workspace(tmp_path, "examples/quickstart")
    job = Job(work, {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}, ci_tools)
    install: tuple[str, dict[str, str]] = ('python -m pip install "$RECONCILER_INSTALL"', {})
    typo = (
        "reconciler plan -f examples/quickstart --fromat markdown --detailed-exitcode > plan.md"
        " || [ $? -eq 2 ]"
    )
    result = job.run([install, (typo, {})])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No such option '--fromat'" in result.stderr
