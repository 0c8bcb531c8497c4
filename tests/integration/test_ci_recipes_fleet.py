"""The fleet drift recipes in ``examples/ci/fleet/`` run as written, every line, install included,
against the emulator served on loopback, over the example fleet (``examples/fleet``): the GitHub
matrix of shards and its merge job, the Kubernetes Indexed Job's pod script for every index (a
merger pod waits, bounded, for the shards' reports; a missing one fails the Job), and the crontab
line after its install-once lines.

Lines run with the ``Job`` runner of ``tests/support/ci_jobs.py`` and its substitutions only
(``$RECONCILER_INSTALL`` → a wheel of this checkout, ``${{ … }}`` → test values, secrets → test
values, the state backend → the local file). Recipe-specific, and visible below: the cron's
``/opt/reconciler`` and the pod's ``/fleet/repo``, ``/reports`` → folders of the test.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ci_jobs import (
    TAGGED_INSTALL,
    CiTools,
    Job,
    environment,
    github_steps,
    install_lines,
    load,
    workspace,
)
from tests.support.ci_runner import lend_test_dependencies
from tests.support.cli import RECONCILER_BIN
from tests.support.sandbox import Sandbox
from tests.support.signaloid import API_KEY, core_patch
from tests.support.webhooks import receive_webhooks

FLEET = Path(__file__).resolve().parents[2] / "examples" / "ci" / "fleet"
GITHUB, K8S, CRON = (
    FLEET / n for n in ("github-fleet-drift.yml", "k8s-fleet-drift-cronjob.yaml", "fleet-drift.cron")
)
FLEET_DIR = "examples/fleet"
VALUES = {"secrets.SIGNALOID_API_KEY_READONLY": API_KEY, "secrets.RECONCILER_PG_DSN": ""}
Hook = tuple[str, list[dict[str, Any]]]


@pytest.fixture
def receiver() -> Iterator[Hook]:
    with receive_webhooks() as hook:
        yield hook


def env_for(declared: dict[str, Any], sandbox: Sandbox, hook_url: str) -> dict[str, str]:
    return environment(
        declared, VALUES, signaloid_url=sandbox.signaloid_url, api_key=API_KEY, hook_url=hook_url
    )


def apply_fleet(job: Job, fleet: Path) -> None:
    """Apply every stack of the example fleet with the test's own reconciler (the recipes only check)."""
    stacks = sorted(p.parent for p in fleet.glob("*/*/stack.yaml"))
    assert len(stacks) == 3
    for stack in stacks:
        result = job.run([(f'"{RECONCILER_BIN}" apply -f "{stack}" --auto-approve', {})])
        assert result.returncode == 0, result.stdout + result.stderr


def drift_one_core(sandbox: Sandbox) -> None:
    core = next(c for c in sandbox.api.objects("cores") if c["Name"] == "team-b-prod-athens")
    assert (
        sandbox.api.client.patch(f"/cores/{core['CoreID']}", json=core_patch(core, Precision=32)).status_code
        == 200
    )


def k8s_container(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    job = doc["spec"]["jobTemplate"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    return job, container


def cron_parts(text: str) -> tuple[list[str], str, dict[str, str], str]:
    """(install-once commands, the pinned install spec, the crontab's variables, the entry's command)."""
    installs = [line.removeprefix("#   $ ") for line in text.splitlines() if line.startswith("#   $ ")]
    (spec,) = re.findall(r'^# with RECONCILER_INSTALL="([^"]+)"$', text, re.MULTILINE)
    lines = [line for line in text.splitlines() if line and line[0] != "#"]
    variables = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    (entry,) = [line for line in lines if not re.match(r"^[A-Z_]+=", line)]
    fields = entry.split(None, 5)
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), fields[:5]
    assert "%" not in fields[5], "cron turns % into a newline"
    return installs, spec, variables, fields[5]


def test_fleet_recipes_install_this_project_pinned_never_the_pypi_namesake() -> None:
    github = load(GITHUB)
    _, container = k8s_container(load(K8S))
    pod_env = {e["name"]: e.get("value") for e in container["env"]}
    installs, cron_spec, _, _ = cron_parts(CRON.read_text(encoding="utf-8"))
    for spec in (github["env"]["RECONCILER_INSTALL"], pod_env["RECONCILER_INSTALL"], cron_spec):
        assert TAGGED_INSTALL.fullmatch(spec), spec
    for path in (GITHUB, K8S, CRON):
        found = install_lines(path.read_text(encoding="utf-8"))
        assert found and set(found) == {'"$RECONCILER_INSTALL"'}, (path.name, found)
    assert len(install_lines(GITHUB.read_text())) == 2, "both jobs install before running reconciler"
    assert container["image"] != "python:3.12-slim", "a git+https install needs git in the image"
    assert installs[0].startswith("python3 -m venv /opt/reconciler"), installs


def test_github_matrix_of_shards_then_one_merged_report(
    sandbox_server: Sandbox, receiver: Hook, tmp_path: Path, ci_tools: CiTools
) -> None:
    hook_url, received = receiver
    doc = load(GITHUB)
    on = doc.get("on") or doc[True]  # type: ignore[index]  # YAML 1.1 reads a bare `on` as true
    assert "schedule" in on
    assert doc["env"]["FLEET_DIR"] == FLEET_DIR
    work = workspace(tmp_path, FLEET_DIR)
    env = env_for(doc["env"], sandbox_server, hook_url)
    apply_fleet(Job(work, env, ci_tools), work / FLEET_DIR)
    drift_one_core(sandbox_server)
    shards = doc["jobs"]["drift"]["strategy"]["matrix"]["shard"]
    assert len(shards) == int(doc["env"]["SHARDS"])
    assert doc["jobs"]["report"]["needs"] == "drift" and doc["jobs"]["report"]["if"] == "always()"

    for shard in shards:  # every run line of the matrix job, install included, once per shard
        job = Job(work, env, ci_tools, {**VALUES, "matrix.shard": str(shard)})
        result = job.run(github_steps(doc, "drift"))
        assert result.returncode == 0, result.stderr  # a shard uploads its report whatever it found
    (work / "shards").mkdir()
    for shard in shards:  # what download-artifact with merge-multiple leaves
        (work / f"shard-{shard}.json").rename(work / "shards" / f"shard-{shard}.json")
    names = [
        s["name"] for f in sorted((work / "shards").iterdir()) for s in json.loads(f.read_text())["stacks"]
    ]
    assert sorted(names) == [f"{FLEET_DIR}/{t}" for t in ("team-a/prod", "team-a/staging", "team-b/prod")]

    summary = tmp_path / "step-summary.md"
    report = Job(work, env, ci_tools, VALUES)
    result = report.run(github_steps(doc, "report"), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 2, result.stderr  # the job fails on drift
    assert "| `examples/fleet/team-b/prod` | 🟠 drifted | 1 | 0 |" in summary.read_text(encoding="utf-8")
    assert 'data-status="drifted" data-count="1"' in (work / "fleet-drift.html").read_text(encoding="utf-8")
    metrics = list(text_string_to_metric_families((work / "fleet-drift.prom").read_text()))
    assert any(f.name == "reconciler_drift_fleet_stacks" for f in metrics)
    assert len(received) == 1 and received[0]["summary"]["drifted"] == 1
    assert "S3CRET" not in result.stdout + result.stderr

    (work / "shards" / f"shard-{shards[1]}.json").unlink()  # a shard job that died before its upload
    result = report.run(github_steps(doc, "report"), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 1 and f"no report from shard {shards[1]} of 4" in result.stderr


def _k8s_pods(
    sandbox: Sandbox, hook_url: str, tmp_path: Path, ci_tools: CiTools, merge_wait_s: int
) -> tuple[Job, dict[str, Any], int, Path]:
    """The recipe's pods as a runner: (the Job runner, the container, SHARDS, the run's folder)."""
    doc = load(K8S)
    assert (doc["apiVersion"], doc["kind"]) == ("batch/v1", "CronJob")
    job, container = k8s_container(doc)
    declared = {e["name"]: e.get("value") for e in container["env"]}
    shards = int(declared["SHARDS"])
    # SHARDS shard pods and one merger, all at once; the merger's exit 3 fails its index unretried.
    assert job["completionMode"] == "Indexed" and job["completions"] == job["parallelism"] == shards + 1
    assert job["backoffLimitPerIndex"] >= 1 and int(declared["MERGE_WAIT_S"]) < job["activeDeadlineSeconds"]
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule == {
        "action": "FailIndex",
        "onExitCodes": {"containerName": "drift", "operator": "In", "values": [3]},
    }
    job_name = next(e for e in container["env"] if e["name"] == "JOB_NAME")
    assert job_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['batch.kubernetes.io/job-name']"
    assert declared["FLEET_DIR"] == f"/fleet/repo/{FLEET_DIR}"  # where the init container clones to
    work = workspace(tmp_path, FLEET_DIR)
    reports = tmp_path / "reports"
    pod_env = env_for(declared, sandbox, hook_url)
    pod_env.update(
        FLEET_DIR=str(work / FLEET_DIR),
        REPORTS_DIR=str(reports),
        JOB_NAME="reconciler-fleet-drift-2901",
        MERGE_WAIT_S=str(merge_wait_s),  # the recipe's 2700 s, shortened for the test
    )
    pods = Job(work, pod_env, ci_tools)
    apply_fleet(pods, work / FLEET_DIR)
    return pods, container, shards, reports / "reconciler-fleet-drift-2901"


def _pod(pods: Job, container: dict[str, Any], index: int) -> Any:
    (script,) = container["args"]
    return pods.run([(script, {})], shell=container["command"], env={"JOB_COMPLETION_INDEX": str(index)})


@pytest.mark.timeout(900)  # five pods, each installing the wheel: slow on a loaded machine
def test_kubernetes_indexed_job_shards_and_the_merger_waits_for_them(
    sandbox_server: Sandbox, receiver: Hook, tmp_path: Path, ci_tools: CiTools
) -> None:
    import threading

    hook_url, received = receiver
    pods, container, shards, out = _k8s_pods(sandbox_server, hook_url, tmp_path, ci_tools, merge_wait_s=900)
    drift_one_core(sandbox_server)
    merged: list[Any] = []
    merger = threading.Thread(target=lambda: merged.append(_pod(pods, container, shards)))
    merger.start()  # all pods start together: the merger waits for the shards' reports
    for index in [2, 0, 3, 1]:  # shard pods finish in any order
        pod = _pod(pods, container, index)
        assert pod.returncode == 0, pod.stderr
        assert (out / f"shard-{index}.json").is_file()
    merger.join(timeout=1000)  # it ends within 5 s of the last shard
    (result,) = merged
    assert result.returncode == 0, result.stderr  # drift alone does not fail the Job
    assert "merged report: exit 2" in result.stdout
    assert "🟠 drifted" in (out / "fleet-drift.md").read_text(encoding="utf-8")
    assert len(received) == 1 and received[0]["missing_shards"] == []  # one summary per run
    prom = (out / "fleet-drift.prom").read_text()
    assert re.search(r'^reconciler_drift_fleet_stacks\{status="drifted"\} 1\.0$', prom, re.MULTILINE)


@pytest.mark.timeout(900)  # five pods, each installing the wheel: slow on a loaded machine
def test_kubernetes_a_missing_shard_is_reported_and_fails_the_job(
    sandbox_server: Sandbox, receiver: Hook, tmp_path: Path, ci_tools: CiTools
) -> None:
    hook_url, received = receiver
    pods, container, shards, out = _k8s_pods(sandbox_server, hook_url, tmp_path, ci_tools, merge_wait_s=5)
    for index in [0, 1, 3]:  # shard 2's pod was evicted and never wrote its report
        assert _pod(pods, container, index).returncode == 0
    started = time.monotonic()
    result = _pod(pods, container, shards)
    assert 5 <= time.monotonic() - started < 60  # waited for it, within the bound
    assert result.returncode == 3, result.stdout + result.stderr  # FailIndex: the Job fails
    assert "merged report: exit 1" in result.stdout
    assert "Error: no report from shard 2 of 4" in result.stderr
    assert "no report from shard 2" in (out / "fleet-drift.md").read_text(encoding="utf-8")
    assert received[-1]["missing_shards"] == [2] and received[-1]["exit_code"] == 1
    prom = (out / "fleet-drift.prom").read_text()
    assert re.search(r"^reconciler_drift_fleet_missing_shards 1\.0$", prom, re.MULTILINE)


def test_kubernetes_no_shard_at_all_fails_the_merger(
    sandbox_server: Sandbox, receiver: Hook, tmp_path: Path, ci_tools: CiTools
) -> None:
    hook_url, _ = receiver
    pods, container, shards, _out = _k8s_pods(sandbox_server, hook_url, tmp_path, ci_tools, merge_wait_s=0)
    result = _pod(pods, container, shards)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"no shard sent a report within 0s: all {shards} shards are missing" in result.stderr


def test_crontab_installs_once_then_its_line_writes_the_textfile_metrics(
    sandbox_server: Sandbox, receiver: Hook, tmp_path: Path, ci_tools: CiTools
) -> None:
    hook_url, received = receiver
    installs, _, variables, command = cron_parts(CRON.read_text(encoding="utf-8"))
    assert variables["FLEET_DIR"].endswith(f"/{FLEET_DIR}")
    work = workspace(tmp_path, FLEET_DIR)
    env = env_for({}, sandbox_server, hook_url)
    job = Job(work, env, ci_tools)
    venv = tmp_path / "opt-reconciler"
    setup: list[tuple[str, dict[str, str]]] = [
        (line.replace("/opt/reconciler", str(venv)), {}) for line in installs
    ]
    result = job.run(setup)
    assert result.returncode == 0, result.stderr
    lend_test_dependencies(venv)  # the wheel went in with PIP_NO_DEPS: its dependencies, as above
    apply_fleet(job, work / FLEET_DIR)
    env_file = tmp_path / "drift.env"
    env_file.write_text(f"SIGNALOID_API_KEY={env['SIGNALOID_API_KEY']}\nDRIFT_WEBHOOK_URL={hook_url}\n")
    prom = tmp_path / "reconciler_drift.prom"
    cron_env = {**variables, "PATH": variables["PATH"].replace("/opt/reconciler", str(venv))}
    cron_env.update(FLEET_DIR=str(work / FLEET_DIR), ENV_FILE=str(env_file), PROM_FILE=str(prom))
    cron_env.update(RECONCILER_STATE_BACKEND="local", SIGNALOID_API_URL=env["SIGNALOID_API_URL"])
    cron = {k: v for k, v in env.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR")} | cron_env

    def tick() -> int:
        """The entry as cron runs it: its SHELL, only the crontab's variables (and HOME)."""
        # Job.run adds the job's variables; cron's own (cron_env) win, DRIFT_WEBHOOK_URL only from ENV_FILE.
        blank = {k: "" for k in ("DRIFT_WEBHOOK_URL", "SIGNALOID_API_KEY")}
        return job.run([(command, {})], shell=[variables["SHELL"], "-c"], env={**blank, **cron}).returncode

    assert tick() == 0
    assert re.search(
        r'^reconciler_drift_fleet_stacks\{status="in_sync"\} 3\.0$', prom.read_text(), re.MULTILINE
    )
    drift_one_core(sandbox_server)
    assert tick() == 2
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(prom.read_text())
        for s in f.samples
    }
    key = (("cause", "drift"), ("kind", "cores"), ("stack", f"{work / FLEET_DIR}/team-b/prod"))
    assert samples[("reconciler_drift_resources", key)] == 1
    assert len(received) == 2 and not prom.with_suffix(".prom.tmp").exists()
    assert os.path.getsize(f"{prom}.log") == 0 or "Traceback" not in Path(f"{prom}.log").read_text()
