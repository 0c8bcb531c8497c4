"""The Kubernetes manifests of examples/k8s/ are valid against the Kubernetes schemas (offline,
with kubernetes-validate's own copy of them; strict: an unknown or misspelt field is an error),
and what they ask of ``reconciler watch`` exists: its flags, and the paths of its probes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from reconciler.cli.watch import watch

ROOT = Path(__file__).parents[2]
MANIFESTS = sorted((ROOT / "examples" / "k8s").rglob("*.yaml"))
KUBERNETES = "1.30"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_manifest_is_valid_against_the_kubernetes_schemas(path: Path) -> None:
    for doc in documents(path):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_validator_refuses_a_misspelt_field() -> None:
    [deployment] = documents(ROOT / "examples" / "k8s" / "watch" / "deployment.yaml")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_deployment_uses_real_flags_and_probe_paths() -> None:
    [deployment] = documents(ROOT / "examples" / "k8s" / "watch" / "deployment.yaml")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "watch"
    flags = {opt for param in watch.params for opt in param.opts}
    used = {arg.split("=", 1)[0] for arg in container["args"][1:]}
    assert used <= flags, used - flags
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"] for e in container["env"]}
    assert {"RECONCILER_PG_DSN", "RECONCILER_WATCH_TOKEN", "RECONCILER_STATE_BACKEND"} <= env
    assert all("secretKeyRef" in e.get("valueFrom", {}) for e in container["env"] if "DSN" in e["name"])
