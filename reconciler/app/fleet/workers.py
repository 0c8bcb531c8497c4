"""A fleet checked on every core: worker processes, each a share of the stacks, merged in memory.

One process checks ~130-200 stacks per second of CPU (bench/README.md, "Fleet"); a fleet bound by
the network must not be bound by one core. ``check_in_workers`` splits the stacks among ``workers``
processes (round robin over the sorted list, so shares are even; not by ``shard_of``, which
would correlate with an outer ``--shard I/N`` and leave workers idle), each running
``run.check_fleet`` on its share, and merges their reports into one as ``report merge`` does
(``model.fleet_report``).

What the APIs see does not grow: the per-endpoint budget (``--per-endpoint``) and the stacks held
at once (``--max-stacks``) are split between the workers, so all of them together keep at most as
many requests in flight to one endpoint as one process would.

A worker is ``python -m reconciler.cli.fleet_worker`` (``serve``): it reads jobs (a share of the stacks and
its budget) and writes reports, one length-prefixed JSON document each way, until its stdin
closes, so ``FleetWorkers`` can be kept open across checks (``reconciler watch``) and pay the
workers' start-up once. A worker that dies makes each of its stacks an ``errored`` entry, never
an in-sync one.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from reconciler.app.fleet.discover import Shard, StackRef
from reconciler.app.fleet.model import checked_with, errored_stack, fleet_report, stamp
from reconciler.providers.endpoints import DEFAULT_LIMIT

if TYPE_CHECKING:
    from reconciler.app.policy_gate import PolicyChoice

__all__ = [
    "MIN_STACKS_PER_WORKER",
    "FleetWorkers",
    "check_in_workers",
    "default_workers",
    "serve",
    "worker_count",
]

# A worker costs a Python start-up (~0.3-0.5 s of CPU here), about what one process spends
# checking 50 stacks: fewer stacks per worker would spend more starting workers than they save.
MIN_STACKS_PER_WORKER = 50


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(
    stacks: int, requested: int, per_endpoint: int, min_stacks: int = MIN_STACKS_PER_WORKER
) -> int:
    """How many workers to run: at most ``requested``, one per ``min_stacks`` stacks, and no more
    than the per-endpoint budget (each worker needs at least one request in flight)."""
    return max(1, min(requested, math.ceil(stacks / min_stacks), per_endpoint))


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal whole shares, each at least 1 (the budget of each worker)."""
    base, extra = divmod(total, parts)
    return [max(1, base + (1 if i < extra else 0)) for i in range(parts)]


@dataclass(frozen=True)
class _Job:
    stacks: list[StackRef]
    sandbox: bool
    max_stacks: int
    per_endpoint: int
    policy: PolicyChoice | None = None

    def encode(self) -> bytes:
        policy = self.policy
        return orjson.dumps(
            {
                "stacks": [[s.name, s.relative, str(s.path)] for s in self.stacks],
                "sandbox": self.sandbox,
                "max_stacks": self.max_stacks,
                "per_endpoint": self.per_endpoint,
                "policy": None
                if policy is None
                else {"paths": [str(p) for p in policy.paths], "namespace": policy.namespace},
            }
        )

    @staticmethod
    def decode(data: bytes) -> _Job:
        from reconciler.app.policy_gate import PolicyChoice

        doc = orjson.loads(data)
        stacks = [StackRef(name, relative, Path(path)) for name, relative, path in doc["stacks"]]
        chosen = doc["policy"]
        policy = (
            None
            if chosen is None
            else PolicyChoice(tuple(Path(p) for p in chosen["paths"]), str(chosen["namespace"]))
        )
        return _Job(stacks, bool(doc["sandbox"]), int(doc["max_stacks"]), int(doc["per_endpoint"]), policy)


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def run(self, job: _Job) -> list[dict[str, Any]]:
        """The stacks' entries of the report for ``job``; errored entries if the worker died."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            payload = job.encode()
            self.proc.stdin.write(b"%d\n" % len(payload) + payload)
            await self.proc.stdin.drain()
            size = int(await self.proc.stdout.readline())
            report = orjson.loads(await self.proc.stdout.readexactly(size))
            return list(report["stacks"])
        except (OSError, ValueError, asyncio.IncompleteReadError, orjson.JSONDecodeError):
            code = await self.proc.wait()
            why = f"the worker process checking it exited unexpectedly (exit status {code})"
            now = stamp()
            return [errored_stack(s.name, why, checked_at=now, duration_s=0.0, http={}) for s in job.stacks]

    async def close(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


class FleetWorkers:
    """``workers`` worker processes, kept open across checks (``async with``)."""

    def __init__(
        self,
        workers: int,
        *,
        environ: Mapping[str, str],
        sandbox: bool = False,
        max_stacks: int = 16,
        per_endpoint: int = DEFAULT_LIMIT,
        policy: PolicyChoice | None = None,
    ) -> None:
        self.count = max(1, min(workers, per_endpoint))
        self.policy = policy
        self.environ, self.sandbox = dict(environ), sandbox
        self.max_stacks, self.per_endpoint = max_stacks, per_endpoint
        self._workers: list[_Worker] = []

    async def __aenter__(self) -> FleetWorkers:
        try:
            for _ in range(self.count):
                self._workers.append(await self._start())
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _start(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "reconciler.cli.fleet_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self.environ,
        )
        return _Worker(proc)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:  # interrupted (the run's deadline, Ctrl-C): no waiting on workers
            for worker in self._workers:
                worker.kill()
        await asyncio.gather(*(w.close() for w in self._workers), return_exceptions=True)
        self._workers.clear()

    def pids(self) -> list[int]:
        """The workers' process ids (for logs, and to tell them from this process)."""
        return [w.proc.pid for w in self._workers]

    async def check(
        self,
        stacks: list[StackRef],
        *,
        shard: Shard | None = None,
        on_checked: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """The fleet report for ``stacks``: each worker checks every ``count``-th of them. A worker
        found dead (since the last check) is replaced first; one that dies during this check
        leaves its stacks errored."""
        for index, worker in enumerate(self._workers):
            if worker.proc.returncode is not None:
                self._workers[index] = await self._start()
        started, generated_at = time.monotonic(), stamp()
        ordered = sorted(stacks)
        budgets = split(self.per_endpoint, self.count)
        held = split(self.max_stacks, self.count)
        jobs = [
            _Job(ordered[i :: self.count], self.sandbox, held[i], budgets[i], self.policy)
            for i in range(self.count)
        ]

        async def one(worker: _Worker, job: _Job) -> list[dict[str, Any]]:
            entries = await worker.run(job) if job.stacks else []
            if on_checked is not None:
                for entry in entries:
                    on_checked(entry)
            return entries

        shares = await asyncio.gather(*(one(w, j) for w, j in zip(self._workers, jobs, strict=True)))
        return fleet_report(
            [entry for share in shares for entry in share],
            generated_at=generated_at,
            duration_s=time.monotonic() - started,
            shards=[{"index": shard.index, "count": shard.count}] if shard else [],
            how=checked_with(self.sandbox, self.policy, self.environ),
        )


async def check_in_workers(
    stacks: list[StackRef],
    *,
    environ: Mapping[str, str],
    workers: int | None = None,
    sandbox: bool = False,
    shard: Shard | None = None,
    max_stacks: int = 16,
    per_endpoint: int = DEFAULT_LIMIT,
    on_checked: Callable[[dict[str, Any]], None] | None = None,
    policy: PolicyChoice | None = None,
    min_stacks_per_worker: int = MIN_STACKS_PER_WORKER,
) -> dict[str, Any]:
    """The fleet report for ``stacks`` (``model.fleet_report``), checked by up to ``workers``
    processes (default: this machine's cores; see ``worker_count``). One worker: in this process."""
    count = worker_count(
        len(stacks), default_workers() if workers is None else workers, per_endpoint, min_stacks_per_worker
    )
    if count == 1:
        from reconciler.app.fleet.run import check_fleet

        return await check_fleet(
            stacks,
            environ=environ,
            sandbox=sandbox,
            shard=shard,
            max_stacks=max_stacks,
            per_endpoint=per_endpoint,
            on_checked=on_checked,
            policy=policy,
        )
    pool = FleetWorkers(
        count,
        environ=environ,
        sandbox=sandbox,
        max_stacks=max_stacks,
        per_endpoint=per_endpoint,
        policy=policy,
    )
    async with pool:
        return await pool.check(stacks, shard=shard, on_checked=on_checked)


# --- the worker process (its entry point: ``reconciler/cli/fleet_worker.py``) -----------------------


def serve(jobs: BinaryIO, reports: BinaryIO) -> None:
    """Answer each job on ``jobs`` with its report on ``reports`` until ``jobs`` ends."""
    from reconciler.app.fleet.run import check_fleet

    while header := jobs.readline():
        job = _Job.decode(jobs.read(int(header)))
        report = asyncio.run(
            check_fleet(
                job.stacks,
                environ=os.environ,
                sandbox=job.sandbox,
                max_stacks=job.max_stacks,
                per_endpoint=job.per_endpoint,
                policy=job.policy,
            )
        )
        payload = orjson.dumps(report)
        reports.write(b"%d\n" % len(payload) + payload)
        reports.flush()
