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

from tests.support.ci_runner import built_wheel, runner_python, stub_tools
from tests.support.examples import pristine_example
from tests.support.sandbox import Sandbox
from tests.support.servers import serve_app
from tests.support.signaloid import API_KEY

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "examples" / "ci"
GITHUB = RECIPES / "github"
GITLAB = RECIPES / "gitlab" / ".gitlab-ci.yml"
ALL = sorted([*GITHUB.glob("*.yml"), GITLAB])
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
TAGGED_INSTALL = re.compile(r"reconciler-iac @ git\+https://\S+@v\d+\.\d+\.\d+")
VALUES = {"secrets.SIGNALOID_API_KEY": API_KEY, "secrets.SIGNALOID_API_KEY_READONLY": API_KEY,
          "secrets.RECONCILER_PG_DSN": "", "github.token": "gh-test-token",
          "github.event.pull_request.number": "7", "github.ref": "refs/heads/main"}  # fmt: skip


@pytest.fixture(scope="module")
def ci_tools(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the built wheel, the job's python bin/, the stubs' folder), made once for all recipes."""
    base = tmp_path_factory.mktemp("ci")
    return built_wheel(ROOT, base / "dist"), runner_python(base / "venv"), stub_tools(base / "stubs")


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


def github_steps(doc: dict[str, Any], job: str) -> list[tuple[str, dict[str, Any]]]:
    return [(s["run"], s.get("env") or {}) for s in doc["jobs"][job]["steps"] if "run" in s]


def gitlab_steps(doc: dict[str, Any], job: str) -> list[tuple[str, dict[str, Any]]]:
    lines = [*doc.get("default", {}).get("before_script", []), *doc[job]["script"]]
    return [(line, {}) for line in lines]


class Job:
    """Runs a job's steps in order in ``work``; the first failing step fails the job."""

    def __init__(self, work: Path, env: dict[str, str], tools: tuple[Path, Path, Path]) -> None:
        wheel, python_bin, stubs = tools
        self.work, self.log = work, work.parent / "stub.log"
        self.env = {**env, "RECONCILER_INSTALL": str(wheel), "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1",
                    "PIP_DISABLE_PIP_VERSION_CHECK": "1", "STUB_LOG": str(self.log),
                    "REVIEWED_PLAN": str(work.parent / "reviewed-plan.json"),
                    "PATH": f"{stubs}{os.pathsep}{python_bin}{os.pathsep}/usr/bin:/bin"}  # fmt: skip

    def run(self, steps: list[tuple[str, dict[str, Any]]]) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] | None = None
        for script, step_env in steps:
            env = {**self.env, **{k: _value(v) for k, v in step_env.items()}}
            result = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=self.work, env=env,
                                    capture_output=True, text=True, timeout=180)  # fmt: skip
            if result.returncode != 0:
                return result
        assert result is not None
        return result

    def stub_calls(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _value(value: Any) -> str:
    return EXPRESSION.sub(lambda m: VALUES[m.group(1)], str(value))


def environment(declared: dict[str, Any], sandbox: Sandbox, hook_url: str) -> dict[str, str]:
    """The recipe's variables as a CI runner would set them, with test values for the secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALOID_", "RECONCILER_", "PIP_"))}
    env.pop("VIRTUAL_ENV", None)
    for name, value in declared.items():
        env[name] = _value(value) if "DRIFT_WEBHOOK_URL" not in str(value) else hook_url
    env.update(SIGNALOID_API_URL=sandbox.signaloid_url, SIGNALOID_API_KEY=API_KEY, DRIFT_WEBHOOK_URL=hook_url)
    env["RECONCILER_STATE_BACKEND"] = "local"
    return env


def workspace(tmp_path: Path, stack_dir: str) -> Path:
    """A checkout: the recipe's stack folder at the same relative path."""
    work = tmp_path / "checkout"
    assert stack_dir.startswith("examples/"), stack_dir
    pristine_example(stack_dir.removeprefix("examples/"), work)
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


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(RECIPES)))
def test_recipes_install_this_project_pinned_never_the_pypi_namesake(path: Path) -> None:
    doc = load(path)
    variables = doc.get("env") or doc.get("variables") or {}
    assert TAGGED_INSTALL.fullmatch(variables["RECONCILER_INSTALL"]), variables["RECONCILER_INSTALL"]
    installs = re.findall(r"pip install (.+)", path.read_text(encoding="utf-8"))
    assert installs and set(installs) == {'"$RECONCILER_INSTALL"'}, installs


def test_github_workflow_triggers() -> None:
    plan_apply, drift = load(GITHUB / "reconciler.yml"), load(GITHUB / "reconciler-drift.yml")
    on = plan_apply.get("on", plan_apply.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"pull_request", "push"} and on["push"]["branches"] == ["main"]
    assert "schedule" in drift.get("on", drift.get(True))
    artifact = [
        s for s in plan_apply["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/upload")
    ]
    assert artifact[0]["with"]["path"] == "plan.json"


Steps = list[tuple[str, dict[str, Any]]]


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
    (change,) = [c for c in reports[-1]["changes"] if c["action"] != "noop"]
    assert (change["address"], change["cause"]) == ("cores.fast-athens", "drift")


def test_github_recipes_run_against_the_sandbox(
    sandbox_server: Sandbox, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path,
    ci_tools: tuple[Path, Path, Path],
) -> None:  # fmt: skip
    hook_url, reports = receiver
    plan_apply, drift = load(GITHUB / "reconciler.yml"), load(GITHUB / "reconciler-drift.yml")
    work = workspace(tmp_path, plan_apply["env"]["STACK_DIR"])
    job = Job(work, environment({**plan_apply["env"], **drift["env"]}, sandbox_server, hook_url), ci_tools)
    _check_flow(github_steps(plan_apply, "plan"), github_steps(plan_apply, "apply"),
                github_steps(drift, "drift"), job, sandbox_server, reports)  # fmt: skip


def test_gitlab_recipe_runs_against_the_sandbox(
    sandbox_server: Sandbox, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path,
    ci_tools: tuple[Path, Path, Path],
) -> None:  # fmt: skip
    hook_url, reports = receiver
    doc = load(GITLAB)
    work = workspace(tmp_path, doc["variables"]["STACK_DIR"])
    job = Job(work, environment(doc["variables"], sandbox_server, hook_url), ci_tools)
    _check_flow(gitlab_steps(doc, "plan"), gitlab_steps(doc, "apply"), gitlab_steps(doc, "drift"),
                job, sandbox_server, reports)  # fmt: skip


def test_a_typo_in_the_plan_line_fails_the_job(tmp_path: Path, ci_tools: tuple[Path, Path, Path]) -> None:
    """The recipes' own pattern: `… --detailed-exitcode > plan.md || [ $? -eq 2 ]` must not pass a typo."""
    work = workspace(tmp_path, "examples/quickstart")
    job = Job(work, {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}, ci_tools)
    install = ('python -m pip install "$RECONCILER_INSTALL"', {})
    typo = (
        "reconciler plan -f examples/quickstart --fromat markdown --detailed-exitcode > plan.md"
        " || [ $? -eq 2 ]"
    )
    result = job.run([install, (typo, {})])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No such option '--fromat'" in result.stderr
