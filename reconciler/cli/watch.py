"""``reconciler watch --stacks DIR…``: check every stack continuously; sync and heal when allowed.

Thin, as the other commands: parse flags, build the watch (``reconciler.app.watch``), serve its
endpoint, run until SIGTERM or Ctrl-C, exit 0. Detect-only unless ``--sync``/``--heal`` (or a
stack's own ``watch:`` section) say otherwise. See docs/watch.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import fail, run, sandbox_option

if TYPE_CHECKING:
    from reconciler.app.fleet.workers import FleetWorkers
    from reconciler.app.watch.metrics import WatchMetrics

__all__ = ["watch"]


def _duration(minimum: float = 1.0) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
        if value is None:
            return None
        from reconciler.config.watch import parse_duration

        try:
            return parse_duration(str(value), minimum=minimum)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


@click.command()
@click.option(
    "--stacks",
    "roots",
    metavar="DIR",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Watch every stack (a folder of stack files) under DIR; read again each cycle (repeatable).",
)
@click.option(
    "--interval",
    default="5m",
    show_default=True,
    callback=_duration(),
    help="How often each stack is checked: 30s, 5m, 1h (at least 1s); a stack's watch.interval wins.",
)
@click.option(
    "--listen",
    default="127.0.0.1:9464",
    show_default=True,
    metavar="HOST:PORT",
    help="Serve /healthz, /readyz, /metrics, /api/v1/stacks and the live page here ('off': none).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --listen address that is not loopback; clients from other hosts must then send "
    "$RECONCILER_WATCH_TOKEN.",
)
@click.option(
    "--sync",
    is_flag=True,
    help="Apply configuration changes (default for stacks whose watch: section does not say).",
)
@click.option(
    "--heal", is_flag=True, help="Revert drift (default for stacks whose watch: section does not say)."
)
@click.option(
    "--allow-delete",
    is_flag=True,
    help="Let sync and heal delete and replace (default for stacks that do not say).",
)
@click.option("--suspend", is_flag=True, help="Global switch: check and report, write nothing to any stack.")
@click.option(
    "--suspend-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Global switch at run time: no writes while this file exists.",
)
@click.option(
    "--notify",
    metavar="URL",
    default=None,
    envvar="RECONCILER_WATCH_NOTIFY",
    help="POST each transition (drifted, healed, failed, contested, errored, recovered) as JSON. "
    "Shown as scheme://host only. Or $RECONCILER_WATCH_NOTIFY (kept out of the process's arguments).",
)
@click.option(
    "--max-stacks",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="Stacks checked at once by this process.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    default=None,
    help="Worker processes checking the stacks, kept open while watch runs (default: this machine's "
    "cores; one per 50 stacks found at start at most; 1: all in this process). --per-endpoint is "
    "split between them.",
)
@click.option(
    "--per-endpoint",
    type=click.IntRange(1, 1024),
    default=32,
    show_default=True,
    help="Requests in flight at once to one API endpoint, all stacks (and workers) together.",
)
@click.option(
    "--contested-after",
    type=click.IntRange(2, 1000),
    default=3,
    show_default=True,
    help="Give a resource up after this many heals within --contested-window.",
)
@click.option(
    "--contested-window", default="1h", show_default=True, callback=_duration(), help="See --contested-after."
)
@click.option(
    "--grace",
    default="30s",
    show_default=True,
    callback=_duration(0.0),
    help="On SIGTERM: how long checks in flight may take to finish.",
)
@click.option(
    "--coordination",
    type=click.Choice(["auto", "none", "postgres"]),
    default="auto",
    show_default=True,
    help="Share the stacks with other replicas through PostgreSQL ($RECONCILER_PG_DSN); "
    "auto: when RECONCILER_STATE_BACKEND=postgres.",
)
@click.option(
    "--replica-name", default=None, help="This process's name in history and claims (default HOST:PID)."
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep each stack's apply journal (and local history) here, not in its folder (a read-only "
    "git-sync checkout, say).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one line per check and per transition, on stdout.",
)
@sandbox_option
def watch(
    roots: tuple[Path, ...],
    interval: float,
    listen: str,
    allow_remote: bool,
    sync: bool,
    heal: bool,
    allow_delete: bool,
    suspend: bool,
    suspend_file: Path | None,
    notify: str | None,
    max_stacks: int,
    workers: int | None,
    per_endpoint: int,
    contested_after: int,
    contested_window: float,
    grace: float,
    coordination: str,
    replica_name: str | None,
    work_dir: Path | None,
    log_format: str,
    sandbox: bool,
) -> None:
    """Check every stack under DIR every --interval, continuously; report drift and pending
    configuration (detect-only), and, where allowed, apply it (--sync) and revert drift (--heal)."""
    from reconciler.app.watch.server import check_listen, parse_listen

    address = None
    token = None
    if listen.lower() != "off":
        try:
            address = parse_listen(listen)
        except ValueError as exc:
            fail(f"--listen: {exc}")
        try:
            token = check_listen(address, allow_remote, os.environ)
        except Exception as exc:
            fail(str(exc))
    use_postgres = coordination == "postgres" or (
        coordination == "auto" and os.environ.get("RECONCILER_STATE_BACKEND", "").strip() == "postgres"
    )
    dsn = os.environ.get("RECONCILER_PG_DSN", "").strip()
    if use_postgres and not dsn:
        fail("--coordination postgres needs RECONCILER_PG_DSN (the state database's connection string)")
    replica = replica_name or f"{socket.gethostname()}:{os.getpid()}"
    log = _logger(log_format)

    async def body() -> int:
        from reconciler.app.watch.check import CheckContext, Checker, InProcess
        from reconciler.app.watch.history import HistoryStore, LocalHistory
        from reconciler.app.watch.loop import Watcher, WatchOptions
        from reconciler.app.watch.metrics import WatchMetrics
        from reconciler.app.watch.policy import Permissions
        from reconciler.app.watch.schedule import LocalSchedule, Schedule
        from reconciler.providers.endpoints import EndpointPool

        options = WatchOptions(
            roots=roots,
            max_stacks=max_stacks,
            grace_s=grace,
            tick_s=min(1.0, max(0.1, interval / 4)),
            rediscover_s=min(10.0, max(1.0, interval / 2)),
            suspend=suspend,
            suspend_file=suspend_file,
        )
        schedule: Schedule
        history: HistoryStore
        if use_postgres:
            from reconciler.app.watch.coordination import PostgresHistory, PostgresSchedule

            schedule, history = PostgresSchedule(dsn, replica), PostgresHistory(dsn)
        else:
            schedule, history = LocalSchedule(), LocalHistory()
        pool = EndpointPool(per_endpoint)
        metrics = WatchMetrics(options.suspended)
        ctx = CheckContext(
            environ=os.environ,
            pool=pool,
            defaults=Permissions(sync=sync, heal=heal, allow_delete=allow_delete, interval_s=interval),
            suspend_all=options.suspended,
            contested_after=contested_after,
            contested_window_s=contested_window,
            sandbox=sandbox,
            replica=replica,
            work_dir=work_dir,
            on_notice=lambda stack, line: log({"event": "notice", "stack": stack, "message": line}),
        )
        count = _worker_count(roots, workers, max_stacks, per_endpoint)
        pool_of_workers = _workers(count, sandbox, max_stacks, per_endpoint, log, metrics)
        checker: Checker = InProcess(ctx)
        if pool_of_workers is not None:
            from reconciler.app.watch.remote import InWorkers

            checker = InWorkers(ctx, pool_of_workers, max_stacks)
        watcher = Watcher(
            options, ctx, schedule, history, checker, log,
            notify=_notifier(notify, metrics) if notify else None, on_checked=metrics.record,
        )  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # State writes and the schedule's queries run in threads: one per check in flight, plus room.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=2 * max_stacks + 8))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        mode = "suspended" if suspend else ", ".join(n for n, on in (("sync", sync), ("heal", heal)) if on)
        click.echo(
            f"Watching {', '.join(map(str, roots))} every {interval:g}s ({mode or 'detect only'}"
            f"{'; replicas share stacks through PostgreSQL' if use_postgres else ''}); replica {replica}",
            err=True,
        )
        try:
            async with contextlib.AsyncExitStack() as scope:  # workers closed after the drain
                if pool_of_workers is not None:
                    await scope.enter_async_context(pool_of_workers)
                    click.echo(f"Checking in {count} worker processes ({_pids(pool_of_workers)})", err=True)
                if address is None:
                    await watcher.run(stop)
                else:
                    from reconciler.app.watch.server import build_app, serve

                    app = build_app(
                        watcher, metrics, token=token, refresh_s=max(2, min(30, int(interval))),
                        alive_within_s=max(30.0, 10 * options.tick_s),
                    )  # fmt: skip
                    async with serve(app, address) as bound:
                        host, _, port = bound.rpartition(":")
                        shown = f"[{host}]" if ":" in host else host
                        click.echo(f"Listening on http://{shown}:{port}/", err=True)
                        await watcher.run(stop)
        finally:
            await schedule.aclose()
            await pool.aclose()
            close = getattr(history, "close", None)
            if close is not None:
                close()
        click.echo("Stopped.", err=True)
        return 0

    run(body, deadline=False)


def _worker_count(roots: tuple[Path, ...], requested: int | None, max_stacks: int, per_endpoint: int) -> int:
    """``drift --stacks``'s rule (``workers.worker_count``) on the stacks found at start, and no
    more than the stacks checked at once. Fixed for the life of the process."""
    from reconciler.app.fleet.discover import discover
    from reconciler.app.fleet.workers import default_workers, worker_count
    from reconciler.errors import ReconcilerError

    try:
        found = len(discover(list(roots)))
    except (ReconcilerError, OSError):  # the loop reports what it cannot read; here: as few workers as asked
        found = 0
    if requested is None:
        count = worker_count(found, default_workers(), per_endpoint)
    else:
        count = worker_count(max(found, 1), requested, per_endpoint, min_stacks=1)
    return min(count, max_stacks)


def _workers(
    count: int, sandbox: bool, max_stacks: int, per_endpoint: int, log: Any, metrics: WatchMetrics
) -> FleetWorkers | None:
    """The worker processes (not started yet), or None: every check in this process."""
    if count == 1:
        return None
    from reconciler.app.fleet.workers import FleetWorkers

    metrics.workers.set(count)

    def restarted(old: int, new: int) -> None:
        metrics.worker_restarts.inc()
        log({"event": "worker_restarted", "message": f"worker process {old} exited; {new} started"})

    return FleetWorkers(
        count,
        environ=os.environ,
        sandbox=sandbox,
        max_stacks=max_stacks,
        per_endpoint=per_endpoint,
        on_restart=restarted,
    )


def _pids(workers: FleetWorkers) -> str:
    return ", ".join(f"pid {pid}" for pid in workers.pids())


def _logger(fmt: str) -> Any:
    def log(record: dict[str, Any]) -> None:
        if fmt == "json":
            sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            sys.stdout.flush()
            return
        if record["event"] == "checked":
            return  # text: transitions and problems only, never a line per check
        where = f"{record['stack']}: " if record.get("stack") else ""
        what = record.get("transition") or record["event"]
        names = ", ".join(record.get("addresses", ())[:10])
        message = record.get("message") or names
        if names and names not in message:
            message += f" ({names})"
        click.echo(f"{where}{what.replace('_', ' ')}" + (f": {message}" if message else ""), err=True)

    return log


def _notifier(url: str, metrics: Any) -> Any:
    from reconciler.cli.notify import notify as send

    async def send_event(message: dict[str, Any]) -> None:
        try:
            await send(url, message)
        except Exception:
            metrics.notify_failed.inc()
            raise

    return send_event
