"""The fleet drift recipes in ``examples/ci/fleet/`` run as written against the emulator served on
loopback, over the example fleet (``examples/fleet``): the GitHub matrix of shards and its merge
job, the Kubernetes Indexed Job's pod script for every index (the last pod merges), and the crontab
line. Substituted, as in ``test_ci_recipes.py``: secrets get test values, the state backend is the
local file, paths point into a temporary checkout. Nothing else is changed."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_ci_recipes import RECIPES, environment, load, run, workspace
from tests.support.sandbox import Sandbox
from tests.support.webhooks import receive_webhooks

FLEET = RECIPES / "fleet"
Hook = tuple[str, list[dict[str, Any]]]


@pytest.fixture
def receiver() -> Iterator[Hook]:
    with receive_webhooks() as hook:
        yield hook


def applied(work: Path, fleet_dir: str, env: dict[str, str]) -> list[Path]:
    """Apply every stack of the example fleet (the recipes only check)."""
    stacks = sorted(p.parent for p in (work / fleet_dir).glob("*/*/stack.yaml"))
    assert len(stacks) == 3
    for stack in stacks:
        result = run(f"reconciler apply -f {stack} --auto-approve", work, env)
        assert result.returncode == 0, result.stdout + result.stderr
    return stacks


def drift_one_core(sandbox: Sandbox) -> None:
    core = next(c for c in sandbox.api.objects("cores") if c["Name"] == "team-b-prod-athens")
    assert sandbox.api.client.patch(f"/cores/{core['CoreID']}", json={"Precision": 32}).status_code == 200


def test_github_matrix_of_shards_then_one_merged_report(
    sandbox_server: Sandbox, receiver: Hook, tmp_path: Path
) -> None:
    hook_url, received = receiver
    doc = load(FLEET / "github-fleet-drift.yml")
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "schedule" in on
    work = workspace(tmp_path, doc["env"]["FLEET_DIR"])
    env = environment(doc["env"], sandbox_server, hook_url)
    applied(work, doc["env"]["FLEET_DIR"], env)
    drift_one_core(sandbox_server)
    shards = doc["jobs"]["drift"]["strategy"]["matrix"]["shard"]
    assert len(shards) == int(doc["env"]["SHARDS"])
    assert doc["jobs"]["report"]["needs"] == "drift" and doc["jobs"]["report"]["if"] == "always()"
    (drift_script,) = [
        s["run"] for s in doc["jobs"]["drift"]["steps"] if "reconciler drift" in s.get("run", "")
    ]
    (merge_script,) = [s["run"] for s in doc["jobs"]["report"]["steps"] if "report merge" in s.get("run", "")]

    for shard in shards:
        script = drift_script.replace("${{ matrix.shard }}", str(shard))
        assert "${{" not in script
        result = run(script, work, env)
        assert result.returncode == 0, result.stderr  # a shard uploads its report whatever it found
    (work / "shards").mkdir()
    for shard in shards:  # what download-artifact with merge-multiple leaves
        (work / f"shard-{shard}.json").rename(work / "shards" / f"shard-{shard}.json")
    names = [
        s["name"] for f in sorted((work / "shards").iterdir()) for s in json.loads(f.read_text())["stacks"]
    ]
    assert sorted(names) == [f"examples/fleet/{t}" for t in ("team-a/prod", "team-a/staging", "team-b/prod")]

    summary = tmp_path / "step-summary.md"
    result = run(merge_script, work, {**env, "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 2, result.stderr  # the job fails on drift
    assert "| `examples/fleet/team-b/prod` | 🟠 drifted | 1 | 0 |" in summary.read_text(encoding="utf-8")
    assert 'data-status="drifted" data-count="1"' in (work / "fleet-drift.html").read_text(encoding="utf-8")
    metrics = list(text_string_to_metric_families((work / "fleet-drift.prom").read_text()))
    assert any(f.name == "reconciler_drift_fleet_stacks" for f in metrics)
    assert len(received) == 1 and received[0]["summary"]["drifted"] == 1
    assert "S3CRET" not in result.stdout + result.stderr

    (work / "shards" / f"shard-{shards[1]}.json").unlink()  # a shard job that died before its upload
    result = run(merge_script, work, {**env, "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 1 and f"no report from shard(s) {shards[1]} of 4" in result.stderr


def test_kubernetes_indexed_job_shards_and_the_last_pod_merges(
    sandbox_server: Sandbox, receiver: Hook, tmp_path: Path
) -> None:
    hook_url, received = receiver
    doc = load(FLEET / "k8s-fleet-drift-cronjob.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("batch/v1", "CronJob")
    job = doc["spec"]["jobTemplate"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    declared = {e["name"]: e.get("value") for e in container["env"]}
    shards = int(declared["SHARDS"])
    assert job["completionMode"] == "Indexed" and job["completions"] == job["parallelism"] == shards
    job_name = next(e for e in container["env"] if e["name"] == "JOB_NAME")
    assert job_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['batch.kubernetes.io/job-name']"
    assert container["command"] == ["/bin/sh", "-c"]
    (script,) = container["args"]
    fleet_dir = "examples/fleet"
    assert declared["FLEET_DIR"].endswith(f"/{fleet_dir}")
    work = workspace(tmp_path, fleet_dir)
    env = environment({}, sandbox_server, hook_url)
    applied(work, fleet_dir, env)
    drift_one_core(sandbox_server)
    reports = tmp_path / "reports"
    pod_env = {**env, **{k: v for k, v in declared.items() if v is not None}}
    pod_env.update(
        FLEET_DIR=str(work / fleet_dir), REPORTS_DIR=str(reports), JOB_NAME="reconciler-fleet-drift-2901"
    )
    pod_env["RECONCILER_STATE_BACKEND"] = "local"
    out = reports / "reconciler-fleet-drift-2901"

    for done, index in enumerate([2, 0, 3, 1], start=1):  # pods finish in any order
        pod = subprocess.run(
            ["sh", "-c", script],
            env={**pod_env, "JOB_COMPLETION_INDEX": str(index)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert pod.returncode == 0, pod.stderr
        assert (out / f"shard-{index}.json").is_file()
        assert (out / "fleet-drift.html").exists() == (done == shards), f"merged after {done} pods?"
    assert "merged report: exit 2" in pod.stdout
    assert "🟠 drifted" in (out / "fleet-drift.md").read_text(encoding="utf-8")
    assert len(received) == 1  # one summary for the whole run, not one per pod
    prom = (out / "fleet-drift.prom").read_text()
    assert re.search(r'^reconciler_drift_fleet_stacks\{status="drifted"\} 1\.0$', prom, re.MULTILINE)


def test_crontab_line_writes_the_textfile_metrics(
    sandbox_server: Sandbox, receiver: Hook, tmp_path: Path
) -> None:
    hook_url, received = receiver
    lines = [
        line for line in (FLEET / "fleet-drift.cron").read_text().splitlines() if line and line[0] != "#"
    ]
    variables = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    (entry,) = [line for line in lines if not re.match(r"^[A-Z_]+=", line)]
    fields = entry.split(None, 5)
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), fields[:5]
    assert "%" not in fields[5], "cron turns % into a newline"
    fleet_dir = "examples/fleet"
    assert variables["FLEET_DIR"].endswith(f"/{fleet_dir}")
    work = workspace(tmp_path, fleet_dir)
    env = environment({}, sandbox_server, hook_url)
    applied(work, fleet_dir, env)
    env_file = tmp_path / "drift.env"
    env_file.write_text(f"SIGNALOID_API_KEY={env['SIGNALOID_API_KEY']}\nDRIFT_WEBHOOK_URL={hook_url}\n")
    prom = tmp_path / "reconciler_drift.prom"
    cron_env = {**env, **variables, "FLEET_DIR": str(work / fleet_dir), "ENV_FILE": str(env_file)}
    cron_env.update(PROM_FILE=str(prom), RECONCILER_STATE_BACKEND="local")
    cron_env.pop("DRIFT_WEBHOOK_URL", None)  # from ENV_FILE only, as under cron

    def tick() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [variables["SHELL"], "-c", fields[5]],
            env=cron_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert tick().returncode == 0
    assert re.search(
        r'^reconciler_drift_fleet_stacks\{status="in_sync"\} 3\.0$', prom.read_text(), re.MULTILINE
    )
    drift_one_core(sandbox_server)
    assert tick().returncode == 2
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(prom.read_text())
        for s in f.samples
    }
    key = (("cause", "drift"), ("kind", "cores"), ("stack", f"{work / fleet_dir}/team-b/prod"))
    assert samples[("reconciler_drift_resources", key)] == 1
    assert len(received) == 2 and not prom.with_suffix(".prom.tmp").exists()
    assert os.path.getsize(f"{prom}.log") == 0 or "Traceback" not in Path(f"{prom}.log").read_text()
