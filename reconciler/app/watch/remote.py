"""``watch --workers N``: checks in worker processes (``app/fleet/workers.py``), kept open for the
life of the watch, so their start-up is paid once.

In this process (:class:`InWorkers`, a ``check.Checker``): each check is one job for the least busy
worker: the stack, its history so far, this watch's settings (the flags' permissions, the global
switch as it is at that moment, the contested rule, the replica's name, ``--work-dir``,
``--sandbox``) and the discovery round. The worker answers with the check
(``StackCheck.to_json``) and the notices it logged. What must stay in one place stays here: the
schedule (claims and due times, shared by replicas through PostgreSQL), the history (read before
and recorded after each check: ``check.check_stack``), metrics, the page and notifications. A
worker that dies makes the checks it held ``errored`` (recorded and notified as such: never in
sync, never empty), and is started again for the next check.

In a worker (:class:`WatchChecks`, a ``workers.Handler``): ``check.evaluate_stack`` (load, plan,
decide, apply what is allowed, under the stack's state lock as in this process) on the worker's
own ``EndpointPool``, sized to its share of ``--per-endpoint`` and kept open across checks; when
the round changes it forgets shared reads and collects cycles, as the loop does in-process.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.app.fleet.discover import StackRef
from reconciler.app.fleet.workers import WorkerDied

if TYPE_CHECKING:
    from reconciler.app.fleet.workers import FleetWorkers
    from reconciler.app.watch.check import CheckContext, StackCheck
    from reconciler.app.watch.history import Event
    from reconciler.providers.endpoints import EndpointPool

__all__ = ["InWorkers", "WatchChecks"]


@dataclass
class InWorkers:
    """Checks in ``workers``; this process keeps the history, the schedule and the reporting."""

    ctx: CheckContext
    workers: FleetWorkers
    max_stacks: int
    round: int = 0

    async def evaluate(self, ref: StackRef, events: Sequence[Event]) -> StackCheck:
        from reconciler.app.watch.check import StackCheck, errored_check

        ctx, started, now = self.ctx, time.monotonic(), time.time()
        job = {
            "kind": "watch",
            "stack": [ref.name, ref.relative, str(ref.path), ref.problem],
            "events": [e.to_json() for e in events],
            "defaults": ctx.defaults.to_json(),
            "suspend_all": ctx.suspend_all(),
            "contested_after": ctx.contested_after,
            "contested_window_s": ctx.contested_window_s,
            "sandbox": ctx.sandbox,
            "replica": ctx.replica,
            "work_dir": None if ctx.work_dir is None else str(ctx.work_dir),
            "round": self.round,
            "max_stacks": self.max_stacks,
        }
        try:
            answer = await self.workers.request(job)
            check = StackCheck.from_json(answer["check"])
            notices = [str(line) for line in answer["notices"]]
        except (WorkerDied, KeyError, TypeError, ValueError) as exc:  # never in sync, never empty
            return errored_check(ref, ctx, str(exc), started, now, events)
        for line in notices:
            ctx.on_notice(ref.name, line)
        return check

    def new_round(self) -> None:
        self.round += 1


class WatchChecks:
    """The worker's side: one check per job, on this worker's pool (made at the first job)."""

    def __init__(self) -> None:
        self._pool: EndpointPool | None = None
        self._round = 0

    def _ready(self, job: dict[str, Any]) -> EndpointPool:
        from reconciler.providers.endpoints import EndpointPool

        if self._pool is None:  # state writes and the lock run in threads, as in the watch process
            max_stacks = int(job["max_stacks"])
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2 * max_stacks + 8))
            self._pool, self._round = EndpointPool(int(job["per_endpoint"])), int(job["round"])
            gc.collect()
            gc.freeze()  # what start-up built lives to the end (``loop.py``)
        elif int(job["round"]) > self._round:
            self._round = int(job["round"])
            self._pool.forget_reads()
            gc.collect()
        return self._pool

    async def __call__(self, job: dict[str, Any]) -> dict[str, Any]:
        from reconciler.app.watch.check import CheckContext, evaluate_stack
        from reconciler.app.watch.history import Event
        from reconciler.app.watch.policy import Permissions

        notices: list[str] = []
        suspended = bool(job["suspend_all"])
        ctx = CheckContext(
            environ=os.environ,
            pool=self._ready(job),
            defaults=Permissions(**job["defaults"]),
            suspend_all=lambda: suspended,
            contested_after=int(job["contested_after"]),
            contested_window_s=float(job["contested_window_s"]),
            sandbox=bool(job["sandbox"]),
            replica=str(job["replica"]),
            work_dir=None if job["work_dir"] is None else Path(job["work_dir"]),
            on_notice=lambda _stack, line: notices.append(line),
        )
        name, relative, path, problem = job["stack"]
        ref = StackRef(name, relative, Path(path), problem)
        check = await evaluate_stack(ref, ctx, [Event.from_json(e) for e in job["events"]])
        return {"check": check.to_json(), "notices": notices}

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
