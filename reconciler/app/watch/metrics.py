"""``/metrics`` of ``reconciler watch`` (Prometheus, with ``prometheus-client``).

Per stack, from the latest result of each stack (whichever replica checked it; with several
replicas every one reports the same values: aggregate with ``max by (stack)``):

- ``reconciler_watch_stack_status{stack,status}``: 1 for the stack's status (errored, drifted,
  pending, in_sync), 0 for the others;
- ``reconciler_watch_stack_resources{stack,status}``: drifted and pending resources;
- ``reconciler_watch_stack_contested_resources{stack}``, ``reconciler_watch_stack_suspended{stack}``;
- ``reconciler_watch_stack_last_check_timestamp_seconds{stack}``,
  ``reconciler_watch_stack_check_duration_seconds{stack}``.

Counters of this process (sum over replicas): ``reconciler_watch_checks_total{stack}``,
``…_heals_total{stack}`` and ``…_syncs_total{stack}`` (resources written), ``…_failures_total{stack,
reason}`` (``errored`` or ``apply``), ``…_api_requests_total{api}``, ``…_api_retries_total{api}``,
``…_api_rate_limited_total{api}`` (429 answers), ``…_notifications_failed_total``,
``…_worker_restarts_total`` (worker processes that died and were started again). And
``reconciler_watch_suspended`` (the global switch), ``reconciler_watch_stacks`` (found on disk) and
``reconciler_watch_workers`` (worker processes checking the stacks; 0: checks in this process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler.app.fleet.model import STATUSES, stack_totals
from reconciler.app.watch.check import StackCheck

__all__ = ["WatchMetrics"]

PREFIX = "reconciler_watch"


class WatchMetrics:
    def __init__(self, suspended: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry()
        self._latest: Mapping[str, Mapping[str, Any]] = {}
        self._suspended = suspended

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

        self.checks = counter("checks", "Checks this process made", ("stack",))
        self.heals = counter("heals", "Resources whose drift this process reverted", ("stack",))
        self.syncs = counter("syncs", "Resources this process brought to the configuration", ("stack",))
        self.failures = counter("failures", "Failed checks (errored) or applies", ("stack", "reason"))
        self.requests = counter("api_requests", "HTTP requests to each API", ("api",))
        self.retries = counter("api_retries", "HTTP retries to each API", ("api",))
        self.limited = counter("api_rate_limited", "HTTP 429 answers from each API", ("api",))
        self.notify_failed = Counter(
            f"{PREFIX}_notifications_failed", "Notifications that could not be sent", registry=self.registry
        )
        self.worker_restarts = Counter(
            f"{PREFIX}_worker_restarts",
            "Worker processes that died and were started again",
            registry=self.registry,
        )
        self.workers = Gauge(
            f"{PREFIX}_workers",
            "Worker processes checking the stacks (0: in this process)",
            registry=self.registry,
        )
        self.registry.register(_Latest(self))

    def record(self, check: StackCheck) -> None:
        name = check.result["name"]
        self.checks.labels(name).inc()
        if check.healed:
            self.heals.labels(name).inc(len(check.healed))
        if check.synced:
            self.syncs.labels(name).inc(len(check.synced))
        if check.result["status"] == "errored":
            self.failures.labels(name, "errored").inc()
        elif check.failed:
            self.failures.labels(name, "apply").inc()
        for api, figures in check.http.items():
            self.requests.labels(api).inc(figures.get("requests", 0))
            self.retries.labels(api).inc(figures.get("retries", 0))
            self.limited.labels(api).inc(figures.get("rate_limited", 0))

    def render(self, latest: Mapping[str, Mapping[str, Any]]) -> bytes:
        self._latest = latest
        return generate_latest(self.registry)


class _Latest(Collector):
    """The per-stack gauges, made from the latest results at each scrape."""

    def __init__(self, metrics: WatchMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        latest = self._metrics._latest

        def family(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)

        status = family("stack_status", "1 for the stack's status, 0 for the others", ["stack", "status"])
        resources = family("stack_resources", "Resources drifted or pending, per stack", ["stack", "status"])
        contested = family("stack_contested_resources", "Resources given up as contested", ["stack"])
        suspended = family("stack_suspended", "1 when the stack's writes are suspended", ["stack"])
        checked = family("stack_last_check_timestamp_seconds", "When the stack was last checked", ["stack"])
        duration = family("stack_check_duration_seconds", "How long its last check took", ["stack"])
        for name, stack in sorted(latest.items()):
            for state in STATUSES:
                status.add_metric([name, state], 1.0 if stack["status"] == state else 0.0)
            totals = stack_totals(stack)
            for state in ("drifted", "pending"):
                resources.add_metric([name, state], float(totals[state]))
            watch = stack.get("watch", {})
            contested.add_metric([name], float(len(watch.get("contested", ()))))
            suspended.add_metric([name], 1.0 if watch.get("settings", {}).get("suspended") else 0.0)
            checked.add_metric([name], _epoch(stack["checked_at"]))
            duration.add_metric([name], float(stack["duration_s"]))
        yield from (status, resources, contested, suspended, checked, duration)
        yield GaugeMetricFamily(f"{PREFIX}_stacks", "Stacks found on disk", value=float(len(latest)))
        yield GaugeMetricFamily(
            f"{PREFIX}_suspended",
            "1 while the global switch suspends all writes",
            value=float(self._metrics._suspended()),
        )


def _epoch(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp()
