"""Checking a fleet: every stack's read-only drift check, concurrently, in one process.

At most ``max_stacks`` stacks are checked at once (each holds its live state while it plans);
every stack's HTTP clients send through one ``EndpointPool``, so all stacks that call one API
share its connections and its concurrency limit. Like ``drift``: no lock, no state write, no
write call on any API. A stack that fails is an ``errored`` entry; the others are unaffected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from reconciler.app.fleet.discover import Shard, StackRef
from reconciler.app.fleet.model import checked_with, errored_stack, fleet_report, stack_result, stamp
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.providers.endpoints import DEFAULT_LIMIT, EndpointPool

if TYPE_CHECKING:
    from reconciler.app.policy_gate import PolicyChoice
    from reconciler.config import LoadedStack
    from reconciler.policy.evaluate import PolicyRun

__all__ = ["DEFAULT_MAX_STACKS", "check_fleet", "describe_error", "http_figures"]

DEFAULT_MAX_STACKS = 16


def describe_error(exc: BaseException) -> str:
    """One line (or a few, for several YAML problems) as the CLI would print it."""
    if isinstance(exc, ConfigError):
        return "\n".join(str(issue) for issue in exc.issues)
    if isinstance(exc, ReconcilerError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"unexpected error ({type(exc).__name__}): {exc}"


async def check_fleet(
    stacks: list[StackRef],
    *,
    environ: Mapping[str, str],
    sandbox: bool = False,
    shard: Shard | None = None,
    max_stacks: int = DEFAULT_MAX_STACKS,
    per_endpoint: int = DEFAULT_LIMIT,
    on_checked: Callable[[dict[str, Any]], None] | None = None,
    policy: PolicyChoice | None = None,
) -> dict[str, Any]:
    """The fleet report (``model.fleet_report``) for ``stacks``. ``policy``: the command line's
    policies, judged on every stack's plan (each stack's own ``policy:`` block as well)."""
    started, generated_at = time.monotonic(), stamp()
    pool = EndpointPool(per_endpoint)
    slots = asyncio.Semaphore(max_stacks)

    async def one(ref: StackRef) -> dict[str, Any]:
        async with slots:
            result = await _check(ref, environ=environ, sandbox=sandbox, pool=pool, shared=shared)
        if on_checked is not None:
            on_checked(result)
        return result

    shared = []
    if policy is not None:  # the command line's policies: one engine for every stack
        from reconciler.app.policy_gate import start_shared

        shared = [start_shared(policy, environ)]
    try:
        results = await asyncio.gather(*(one(ref) for ref in stacks))
    finally:
        await pool.aclose()
        for run in shared:
            await run.close()
    shards = [{"index": shard.index, "count": shard.count}] if shard else []
    return fleet_report(
        results,
        generated_at=generated_at,
        duration_s=time.monotonic() - started,
        shards=shards,
        how=checked_with(sandbox, policy, environ),
    )


async def _check(
    ref: StackRef,
    *,
    environ: Mapping[str, str],
    sandbox: bool,
    pool: EndpointPool,
    shared: list[PolicyRun],
) -> dict[str, Any]:
    from reconciler.app.planning import plan_run
    from reconciler.app.session import open_session

    started, checked_at = time.monotonic(), stamp()
    http: dict[str, dict[str, int]] = {}
    if ref.problem is not None:  # a folder that could not be searched: never "no stacks here"
        return errored_stack(ref.name, ref.problem, checked_at=checked_at, duration_s=0.0, http=http)
    verdict = None
    try:
        session = open_session([ref.path], sandbox=sandbox, environ=environ, endpoints=pool)
        async with session, _gate(shared, session.loaded, environ, ref.name) as gate:
            try:
                the_plan = (await plan_run(session)).plan
            finally:
                http = http_figures(session.http_stats())
            doc = the_plan.to_json()
            if gate is not None:
                verdict = (await gate.judge(doc, "drift")).to_json()
        return stack_result(
            ref.name,
            doc,
            checked_at=checked_at,
            duration_s=time.monotonic() - started,
            http=http,
            policy=verdict,
        )
    except Exception as exc:  # one stack's failure is its entry, never the fleet's
        return errored_stack(
            ref.name,
            describe_error(exc),
            checked_at=checked_at,
            duration_s=time.monotonic() - started,
            http=http,
        )


@asynccontextmanager
async def _gate(
    shared: list[PolicyRun], loaded: LoadedStack, environ: Mapping[str, str], name: str
) -> AsyncIterator[Any]:
    """The stack's policy gate (the command line's policies, ``shared`` by every stack, and the
    stack's own block), or None: then nothing of the policy engine is imported."""
    if not shared and getattr(loaded.stack, "policy", None) is None:
        yield None
        return
    from reconciler.app.policy_gate import PolicyChoice, open_gate

    gate = open_gate(PolicyChoice(), loaded, environ, stack=name, shared=shared)
    if gate is None:
        yield None
        return
    async with gate:
        yield gate


def http_figures(stats: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Requests, retries and 429s per API that was called (a report's ``http`` part)."""
    return {
        api: {"requests": s.requests, "retries": s.retries, "rate_limited": s.rate_limited}
        for api, s in stats.items()
        if s.requests
    }
