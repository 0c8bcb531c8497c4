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
from collections.abc import Callable, Iterator
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
from tests.support.ci_runner import stub_tools
from tests.support.fake_gitlab import fake_gitlab
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
    plan: Steps,
    apply: Steps,
    drift: Steps,
    job: Job,
    sandbox: Sandbox,
    reports: list[dict[str, Any]],
    *,
    posted: Callable[[], bool] | None = None,
    keep_artifact: Callable[[Path], None] | None = None,
    env: dict[str, dict[str, str]] | None = None,
) -> None:
    """plan (posted for review, its plan.json kept as the platform keeps an artifact), apply of that
    reviewed plan, drift. ``env``: what the platform sets per job (a merge request's IID…)."""
    work = job.work
    env = env or {}
    result = job.run(plan, env=env.get("plan"))
    assert result.returncode == 0, result  # exit 2 (changes) is a success for the job
    assert "### reconciler plan" in (work / "plan.md").read_text(encoding="utf-8")
    if posted is None:
        assert "--body" in job.stub_calls(), "the plan is posted for review"
    else:
        assert posted(), "the plan is posted for review"
    assert not sandbox.api.objects("cores"), "plan writes nothing"
    if keep_artifact is None:
        shutil.copy(work / "plan.json", work.parent / "reviewed-plan.json")  # the artifact
    else:
        keep_artifact(work / "plan.json")
    (work / "plan.json").unlink()

    result = job.run(apply, env=env.get("apply"))
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
    """The recipe's real ``curl`` lines against GitLab's documented API (``fake_gitlab``): the plan
    note on the MR, then the apply job finds the merged MR of its commit and the artifact of that
    MR pipeline's plan job by its ref (refs/merge-requests/<iid>/head), following the redirect."""
    hook_url, reports = receiver
    doc = load(GITLAB)
    work = workspace(tmp_path, doc["variables"]["STACK_DIR"])
    wheel, python_bin, _ = ci_tools
    tools = (wheel, python_bin, stub_tools(tmp_path / "stubs", ("apt-get",)))  # curl is the real one
    token, iid, merge_sha = "glpat-test-token-0123", 7, "9f1c2e4d"
    with fake_gitlab(token) as gitlab:
        platform = {"CI_API_V4_URL": f"{gitlab.base}/api/v4", "CI_PROJECT_ID": gitlab.project,
                    "GITLAB_API_TOKEN": token}  # fmt: skip
        job = Job(
            work, {**environment(doc["variables"], sandbox_server, hook_url), **platform}, tools, VALUES
        )
        gitlab.merged[merge_sha] = iid

        def keep(plan: Path) -> None:  # GitLab keeps the MR pipeline's artifact under its ref
            gitlab.artifacts[(f"refs/merge-requests/{iid}/head", "plan", "plan.json")] = plan.read_bytes()

        per_job = {
            "plan": {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": str(iid),
                     "CI_MERGE_REQUEST_REF_PATH": f"refs/merge-requests/{iid}/head"},
            "apply": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_SHA": merge_sha, "CI_COMMIT_BRANCH": "main"},
        }  # fmt: skip
        _check_flow(gitlab_steps(doc, "plan"), gitlab_steps(doc, "apply"), gitlab_steps(doc, "drift"),
                    job, sandbox_server, reports, env=per_job,
                    posted=lambda: any(n == iid and "### reconciler plan" in b for n, b in gitlab.notes),
                    keep_artifact=keep)  # fmt: skip
    calls = [(m, p, q) for m, p, q in gitlab.calls]
    assert ("POST", f"/api/v4/projects/42/merge_requests/{iid}/notes", "") in calls
    assert ("GET", f"/api/v4/projects/42/repository/commits/{merge_sha}/merge_requests", "") in calls
    artifact = f"/api/v4/projects/42/jobs/artifacts/refs%2Fmerge-requests%2F{iid}%2Fhead/raw/plan.json"
    assert ("GET", artifact, "job=plan") in calls
    assert any(p.startswith("/cdn/") for _m, p, _q in calls), "the redirect to the file was followed"


def test_gitlab_apply_fails_when_the_merged_mr_has_no_plan_artifact(
    tmp_path: Path, ci_tools: CiTools
) -> None:
    doc = load(GITLAB)
    work = workspace(tmp_path, doc["variables"]["STACK_DIR"])
    wheel, python_bin, _ = ci_tools
    tools = (wheel, python_bin, stub_tools(tmp_path / "stubs", ("apt-get",)))
    with fake_gitlab("glpat-x") as gitlab:
        gitlab.merged["abc"] = 8  # merged, but its pipeline kept no plan.json (expired, say)
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        env.update(CI_API_V4_URL=f"{gitlab.base}/api/v4", CI_PROJECT_ID="42", GITLAB_API_TOKEN="glpat-x",
                   CI_COMMIT_SHA="abc")  # fmt: skip
        result = Job(work, env, tools).run(gitlab_steps(doc, "apply"))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "no plan.json artifact of merge request !8's plan job" in result.stderr
        tried = [p for _m, p, _q in gitlab.calls if "/jobs/artifacts/" in p]
        assert [p.split("/")[7] for p in tried] == [
            "refs%2Fmerge-requests%2F8%2Fhead",
            "refs%2Fmerge-requests%2F8%2Fmerge",
        ]
        gitlab.merged.clear()  # a push that merged no MR: nothing reviewed to apply
        result = Job(work, env, tools).run(gitlab_steps(doc, "apply"))
        assert result.returncode == 1 and "no merged merge request for abc" in result.stderr


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
