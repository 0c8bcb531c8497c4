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

A worker is ``python -m reconciler.cli.fleet_worker`` (``serve``): it reads jobs and writes
answers, one length-prefixed JSON document each (with the job's id), several jobs at once and
each answered as soon as it is done, until its stdin closes. So ``FleetWorkers`` is kept open
across checks and pays the workers' start-up once; ``reconciler watch`` sends it one stack per
job (``app/watch/remote.py``). A job's ``kind`` picks its ``Handler`` (``FleetShare`` here). A
worker that dies makes each of its stacks an ``errored`` entry, never an in-sync one, and is
replaced by the next check. A worker ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole
process group; a service manager may signal every process of the unit): the parent decides when
its work ends, by closing its stdin, and a parent that dies closes it too: no orphans.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import orjson

from reconciler.app.fleet.discover import Shard, StackRef
from reconciler.app.fleet.model import checked_with, errored_stack, fleet_report, stamp
from reconciler.common.paths import read_capped
from reconciler.errors import ReconcilerError
from reconciler.providers.endpoints import DEFAULT_LIMIT

if TYPE_CHECKING:
    from reconciler.app.policy_gate import PolicyChoice

__all__ = [
    "MIN_STACKS_PER_WORKER",
    "FleetShare",
    "FleetWorkers",
    "Handler",
    "WorkerDied",
    "check_in_workers",
    "cpu_quota",
    "default_workers",
    "serve",
    "worker_count",
]

# A worker costs a Python start-up (~0.3-0.5 s of CPU here), about what one process spends
# checking 50 stacks: fewer stacks per worker would spend more starting workers than they save.
MIN_STACKS_PER_WORKER = 50
MAX_CGROUP_FILE_BYTES = 4096  # a line of two numbers


def default_workers(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: its CPU affinity, and no more than its cgroup's CPU
    quota allows (a container limited to 2 CPUs on a 64-core node: 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = cpu_quota(cgroup)
    return max(1, min(cores, math.ceil(quota))) if quota is not None else cores


def cpu_quota(cgroup: Path) -> float | None:
    """CPUs the cgroup's quota allows (cgroup v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us`` over
    ``cpu.cfs_period_us``), or None: no quota, or none readable."""

    def read(name: str) -> str:
        return read_capped(cgroup / name, MAX_CGROUP_FILE_BYTES).decode("ascii")

    try:
        quota, period = read("cpu.max").split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota_us, period_us = int(read("cpu/cpu.cfs_quota_us")), int(read("cpu/cpu.cfs_period_us"))
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


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

    def encode(self) -> dict[str, Any]:
        policy = self.policy
        return {
            "kind": "fleet",
            "stacks": [[s.name, s.relative, str(s.path)] for s in self.stacks],
            "sandbox": self.sandbox,
            "max_stacks": self.max_stacks,
            "per_endpoint": self.per_endpoint,
            "policy": None
            if policy is None
            else {"paths": [str(p) for p in policy.paths], "namespace": policy.namespace},
        }

    @staticmethod
    def decode(doc: Mapping[str, Any]) -> _Job:
        from reconciler.app.policy_gate import PolicyChoice

        stacks = [StackRef(name, relative, Path(path)) for name, relative, path in doc["stacks"]]
        chosen = doc["policy"]
        policy = (
            None
            if chosen is None
            else PolicyChoice(tuple(Path(p) for p in chosen["paths"]), str(chosen["namespace"]))
        )
        return _Job(stacks, bool(doc["sandbox"]), int(doc["max_stacks"]), int(doc["per_endpoint"]), policy)


class WorkerDied(ReconcilerError):
    """The worker process answering a request exited before it answered: its stacks are errored."""


class _Worker:
    """One worker process, its pipes, and its requests awaiting an answer (by id): a worker
    answers several requests at once, in the order they finish (``serve``)."""

    def __init__(self, proc: asyncio.subprocess.Process, budget: int) -> None:
        self.proc, self.budget = proc, budget
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count()
        self._reader = asyncio.ensure_future(self._read())

    @property
    def alive(self) -> bool:
        return not self._reader.done()

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    async def _read(self) -> None:
        """Hand each answer to its request; when the worker's output ends (or is not an answer),
        every request still waiting fails with ``WorkerDied``."""
        assert self.proc.stdout is not None
        try:
            while header := await self.proc.stdout.readline():
                answer = orjson.loads(await self.proc.stdout.readexactly(int(header)))
                waiting = self._waiting.pop(answer.pop("id"), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(answer)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, asyncio.IncompleteReadError):
            self.kill()  # output that is not an answer: the worker cannot be trusted with more
        code = await self.proc.wait()
        died = WorkerDied(f"the worker process checking it exited unexpectedly (exit status {code})")
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(died)
        self._waiting.clear()

    async def request(self, job: dict[str, Any]) -> dict[str, Any]:
        """The worker's answer to ``job`` (``WorkerDied`` if it exits first; a job the worker
        could not run at all: ``WorkerDied`` with its reason)."""
        assert self.proc.stdin is not None
        if not self.alive:
            raise WorkerDied(
                f"the worker process checking it had exited (exit status {self.proc.returncode})"
            )
        ident = next(self._ids)
        answer = self._waiting[ident] = asyncio.get_running_loop().create_future()
        try:
            payload = orjson.dumps({"id": ident, **job})
            self.proc.stdin.write(b"%d\n" % len(payload) + payload)
            await self.proc.stdin.drain()
        except (OSError, RuntimeError):  # its stdin is closed: it died; ``_read`` says how
            pass
        try:
            done = await answer
        finally:
            self._waiting.pop(ident, None)  # (cancelled: the answer, if any, is dropped)
        if "failed" in done:
            raise WorkerDied(f"the worker process could not check it: {done['failed']}")
        return done

    async def close(self) -> None:
        """Close its stdin: it cancels what it still runs and exits (5 s, else killed)."""
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.gather(self._reader, return_exceptions=True)

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


class FleetWorkers:
    """``workers`` worker processes, kept open across checks (``async with``): ``check`` (a fleet
    report, each worker a share) or ``request`` (one job to the least busy worker: ``watch``).
    A dead worker is replaced by the next ``check`` or ``request``; each worker keeps its share
    of ``per_endpoint`` for its life."""

    def __init__(
        self,
        workers: int,
        *,
        environ: Mapping[str, str],
        sandbox: bool = False,
        max_stacks: int = 16,
        per_endpoint: int = DEFAULT_LIMIT,
        policy: PolicyChoice | None = None,
        on_restart: Callable[[int, int], None] = lambda _old, _new: None,
    ) -> None:
        self.count = max(1, min(workers, per_endpoint))
        self.policy = policy
        self.environ, self.sandbox = dict(environ), sandbox
        self.max_stacks, self.per_endpoint = max_stacks, per_endpoint
        self.budgets = split(per_endpoint, self.count)
        self.on_restart = on_restart
        self._workers: list[_Worker] = []
        self._reviving = asyncio.Lock()

    async def __aenter__(self) -> FleetWorkers:
        try:
            for budget in self.budgets:
                self._workers.append(await self._start(budget))
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _start(self, budget: int) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "reconciler.cli.fleet_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self.environ,
        )
        return _Worker(proc, budget)

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

    async def _revive(self) -> None:
        """Replace each worker that died since it was last asked (its budget goes to the new one)."""
        async with self._reviving:
            for index, worker in enumerate(self._workers):
                if not worker.alive:
                    await worker.close()
                    self._workers[index] = await self._start(worker.budget)
                    self.on_restart(worker.proc.pid, self._workers[index].proc.pid)

    async def request(self, job: dict[str, Any]) -> dict[str, Any]:
        """``job``'s answer from the least busy worker (``WorkerDied`` if it exits first); the
        job carries that worker's share of the budget as ``per_endpoint``."""
        await self._revive()
        worker = min(self._workers, key=lambda w: w.in_flight)
        return await worker.request({**job, "per_endpoint": worker.budget})

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
        await self._revive()
        started, generated_at = time.monotonic(), stamp()
        ordered = sorted(stacks)
        held = split(self.max_stacks, self.count)
        jobs = [
            _Job(ordered[i :: self.count], self.sandbox, held[i], self.budgets[i], self.policy)
            for i in range(self.count)
        ]

        async def one(worker: _Worker, job: _Job) -> list[dict[str, Any]]:
            entries = await _share(worker, job) if job.stacks else []
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


async def _share(worker: _Worker, job: _Job) -> list[dict[str, Any]]:
    """The stacks' entries of the report for ``job``; errored entries if the worker died."""
    try:
        answer = await worker.request(job.encode())
        return list(answer["report"]["stacks"])
    except WorkerDied as exc:
        now = stamp()
        return [errored_stack(s.name, str(exc), checked_at=now, duration_s=0.0, http={}) for s in job.stacks]


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


class Handler(Protocol):
    """What a worker does with one kind of job: its answer (a JSON object), and its clean-up."""

    async def __call__(self, job: dict[str, Any]) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


class FleetShare:
    """``kind: fleet``: ``run.check_fleet`` on a share of the stacks, answered with its report."""

    async def __call__(self, job: dict[str, Any]) -> dict[str, Any]:
        from reconciler.app.fleet.run import check_fleet

        share = _Job.decode(job)
        report = await check_fleet(
            share.stacks,
            environ=os.environ,
            sandbox=share.sandbox,
            max_stacks=share.max_stacks,
            per_endpoint=share.per_endpoint,
            policy=share.policy,
        )
        return {"report": report}

    async def aclose(self) -> None:
        return None


async def serve(handlers: Mapping[str, Handler], reports: BinaryIO) -> None:
    """Answer each job on stdin (by its ``kind``) on ``reports``, several at once, each as soon as
    it is done, until stdin ends: then what still runs is cancelled (the parent is done with it,
    or gone) and the handlers are closed."""
    loop = asyncio.get_running_loop()
    jobs = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(jobs), sys.stdin)
    running: set[asyncio.Task[None]] = set()

    async def answer(job: dict[str, Any]) -> None:
        ident = job.pop("id")
        try:
            answered = await handlers[job["kind"]](job)
        except Exception as exc:  # a job it cannot run is its failure, never the worker's end
            answered = {"failed": f"{type(exc).__name__}: {exc}"[:2000]}
        payload = orjson.dumps({"id": ident, **answered})
        reports.write(b"%d\n" % len(payload) + payload)
        reports.flush()

    try:
        while header := await jobs.readline():
            task = asyncio.create_task(answer(orjson.loads(await jobs.readexactly(int(header)))))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for handler in handlers.values():
            await handler.aclose()
