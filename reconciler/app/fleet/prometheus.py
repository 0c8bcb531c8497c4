"""The fleet report in Prometheus' text exposition format, for node_exporter's textfile collector
(write it to ``*.prom`` atomically) or a Pushgateway. Made with ``prometheus-client``.

Gauges (the file is a snapshot of one check, so none is a counter):

- ``reconciler_drift_resources{stack,kind,cause}``: resources with a pending change, per cause
  the change holds (``drift``, ``config``, ``new``, ``removed``): a resource whose YAML was edited
  while another of its fields drifted counts under both ``config`` and ``drift``;
- ``reconciler_drift_stack_status{stack,status}``: 1 for the stack's status, 0 for the others;
- ``reconciler_drift_last_check_timestamp_seconds{stack}`` and ``…_check_duration_seconds{stack}``;
- ``reconciler_drift_api_requests{stack,api}``, ``…_api_retries{stack,api}``,
  ``…_api_rate_limited{stack,api}``;
- ``reconciler_drift_policy_denials{stack}``, ``…_policy_warnings{stack}``: what the stack's
  policies said of its plan (absent for a stack without policies);
- ``reconciler_drift_fleet_policy_denied_stacks``: stacks a policy denied;
- ``reconciler_drift_fleet_stacks{status}``, ``reconciler_drift_fleet_duration_seconds``,
  ``reconciler_drift_fleet_last_run_timestamp_seconds``, ``reconciler_drift_fleet_missing_shards``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from reconciler.app.fleet.model import STATUSES, policy_findings

__all__ = ["render_prometheus"]

PREFIX = "reconciler_drift"


def _epoch(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def render_prometheus(report: Mapping[str, Any]) -> str:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"{PREFIX}_{name}", doc, labels, registry=registry)

    resources = gauge(
        "resources", "Resources with a pending change, per cause it holds", ("stack", "kind", "cause")
    )
    status = gauge(
        "stack_status", "1 for the stack's status (errored, drifted, pending, in_sync)", ("stack", "status")
    )
    checked = gauge("last_check_timestamp_seconds", "When the stack was checked (Unix time)", ("stack",))
    duration = gauge("check_duration_seconds", "How long the stack's check took", ("stack",))
    requests = gauge("api_requests", "HTTP requests the stack's check made", ("stack", "api"))
    retries = gauge("api_retries", "HTTP retries during the stack's check", ("stack", "api"))
    limited = gauge("api_rate_limited", "HTTP 429 answers during the stack's check", ("stack", "api"))
    stacks = gauge("fleet_stacks", "Stacks of the fleet by status", ("status",))
    denials = gauge("policy_denials", "Denials the stack's policies gave its plan", ("stack",))
    policy_warnings = gauge("policy_warnings", "Warnings the stack's policies gave its plan", ("stack",))

    for stack in report["stacks"]:
        name = stack["name"]
        for state in STATUSES:
            status.labels(name, state).set(1 if stack["status"] == state else 0)
        checked.labels(name).set(_epoch(stack["checked_at"]))
        duration.labels(name).set(stack["duration_s"])
        causes = Counter((c["kind"], cause) for c in stack["changes"] for cause in c["causes"])
        for (kind, cause), count in sorted(causes.items()):
            resources.labels(name, kind, cause).set(count)
        if isinstance(stack.get("policy"), dict):
            kinds = Counter(kind for kind, _ in policy_findings(stack))
            denials.labels(name).set(kinds["deny"])
            policy_warnings.labels(name).set(kinds["warn"])
        for api, figures in stack.get("http", {}).items():
            requests.labels(name, api).set(figures.get("requests", 0))
            retries.labels(name, api).set(figures.get("retries", 0))
            limited.labels(name, api).set(figures.get("rate_limited", 0))
    for state in STATUSES:
        stacks.labels(state).set(report["summary"][state])
    gauge("fleet_duration_seconds", "How long the fleet check took").set(report["duration_s"])
    gauge("fleet_last_run_timestamp_seconds", "When the fleet check started (Unix time)").set(
        _epoch(report["generated_at"])
    )
    gauge("fleet_policy_denied_stacks", "Stacks whose plan a policy denied").set(
        report["summary"].get("policy_denied", 0)
    )
    gauge("fleet_missing_shards", "Shards whose report was missing at merge").set(
        len(report.get("missing_shards", []))
    )
    return generate_latest(registry).decode("utf-8")
