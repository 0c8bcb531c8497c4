"""``drift --stacks DIR [--shard I/N]`` and ``report merge FILE...``: the fleet's command line.

Thin, as the other commands: parse flags, call ``reconciler.app.fleet``, render, exit code
(0 all in sync, 2 any drift or pending config, 1 any stack errored or a shard missing: 1 wins).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reconciler.cli import policy
from reconciler.cli.common import fail, run

__all__ = ["fleet_options", "format_option", "report", "requested", "run_fleet"]

_KEY = "reconciler.fleet"
FORMATS = ("text", "json", "markdown", "html", "prometheus")


def _format_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help=help
    )


format_option = _format_option(
    "text for a person, json for scripts, markdown for an issue or chat; html (a page) and prometheus "
    "(textfile collector): with --stacks only."
)


def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        ctx.meta.setdefault(_KEY, {})[name] = value

    return callback


def fleet_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--stacks / --shard / --max-stacks / --workers / --per-endpoint, read by ``run_fleet``."""
    options = [
        click.option(
            "--stacks",
            metavar="DIR",
            multiple=True,
            type=click.Path(path_type=Path),
            expose_value=False,
            callback=_remember("stacks"),
            help="Check every stack (a folder of stack files) under DIR, in one process (repeatable).",
        ),
        click.option(
            "--shard",
            metavar="I/N",
            expose_value=False,
            callback=_remember("shard"),
            help="With --stacks: only shard I (from 0) of N, a stable split by each stack's path "
            "(e.g. --shard $JOB_COMPLETION_INDEX/4).",
        ),
        click.option(
            "--max-stacks",
            type=click.IntRange(1, 1024),
            default=16,
            show_default=True,
            expose_value=False,
            callback=_remember("max_stacks"),
            help="With --stacks: stacks checked at once.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(1, 1024),
            default=None,
            expose_value=False,
            callback=_remember("workers"),
            help="With --stacks: worker processes, each checking a share of the stacks (default: this "
            "machine's cores; one per 50 stacks at most). --per-endpoint and --max-stacks are split "
            "between them.",
        ),
        click.option(
            "--per-endpoint",
            type=click.IntRange(1, 1024),
            default=32,
            show_default=True,
            expose_value=False,
            callback=_remember("per_endpoint"),
            help="With --stacks: requests in flight at once to one API endpoint, all stacks together.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _chosen() -> dict[str, Any]:
    return dict(click.get_current_context().meta.get(_KEY, {}))


def requested(fmt: str) -> bool:
    """Whether this drift is a fleet's (--stacks); html/prometheus without it are an error."""
    chosen = _chosen()
    if chosen.get("stacks"):
        return True
    ctx = click.get_current_context()
    for name in ("shard", "max_stacks", "workers", "per_endpoint"):
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            fail(f"--{name.replace('_', '-')} needs --stacks DIR")
    if fmt in ("html", "prometheus"):
        fail(f"--format {fmt} needs --stacks DIR (for one stack: --format json, markdown or text)")
    return False


def run_fleet(paths: tuple[Path, ...], sandbox: bool, fmt: str, notify: str | None) -> None:
    """The body of ``drift --stacks``."""
    from reconciler.cli.common import _SELECT_KEY

    chosen = _chosen()
    if paths:
        fail("-f and --stacks do not go together: --stacks DIR checks every stack under DIR")
    selection = click.get_current_context().meta.get(_SELECT_KEY, {})
    if any(selection.get(k) for k in ("targets", "excludes")):
        fail("--target and --exclude do not apply to --stacks (they name resources of one stack)")
    from reconciler.cli.common import stack_inputs

    if stack_inputs():
        fail(
            "--var and --var-file do not apply to --stacks: each stack sets its own "
            "(its variables' defaults, RECONCILER_VAR_NAME, or a module call's vars:)"
        )
    from reconciler.app.fleet.discover import discover, in_shard, parse_shard

    shard = None
    if chosen.get("shard"):
        try:
            shard = parse_shard(chosen["shard"])
        except ValueError as exc:
            fail(f"--shard: {exc}")

    async def body() -> int:
        from reconciler.app.fleet import render
        from reconciler.app.fleet.workers import check_in_workers
        from reconciler.common.words import plural

        stacks = in_shard(discover(list(chosen["stacks"])), shard)
        where = f" (shard {shard})" if shard else ""
        click.echo(f"Checking {plural(len(stacks), 'stack')}{where}…", err=True)
        report = await check_in_workers(
            stacks,
            environ=os.environ,
            workers=chosen.get("workers"),
            sandbox=sandbox,
            shard=shard,
            max_stacks=chosen.get("max_stacks", 16),
            per_endpoint=chosen.get("per_endpoint", 32),
            on_checked=_progress,
            policy=policy.chosen(),
        )
        _write(render(report, fmt, _styler()))
        summary = report["summary"]
        click.echo(
            f"{plural(summary['stacks'], 'stack')}: {summary['errored']} errored, "
            f"{summary['drifted']} drifted, {summary['pending']} pending config, "
            f"{summary['in_sync']} in sync, {summary.get('policy_denied', 0)} denied by policy "
            f"({report['duration_s']:.1f}s); exit {report['exit_code']}",
            err=True,
        )
        if notify:
            await _notify(notify, report)
        return int(report["exit_code"])

    run(body)


def _progress(stack: dict[str, Any]) -> None:
    """One line on stderr per stack that needs attention (in-sync stacks only count at the end)."""
    from reconciler.common.escape import shown
    from reconciler.common.words import plural

    name = shown(stack["name"])
    if stack["status"] == "errored":
        first, *more = stack["error"].splitlines() or [""]
        extra = f" (and {plural(len(more), 'more problem')})" if more else ""
        click.echo(f"  {name}: errored: {shown(first)}{extra}", err=True)
    elif stack["status"] != "in_sync":
        click.echo(f"  {name}: {stack['status']} ({plural(len(stack['changes']), 'change')})", err=True)
    if (stack.get("policy") or {}).get("denied"):
        click.echo(f"  {name}: denied by policy", err=True)


async def _notify(url: str, report: dict[str, Any]) -> None:
    """One summary per fleet run (or per merge of its shards), never one per stack."""
    from reconciler.app.fleet.model import notification
    from reconciler.cli.notify import notify as send
    from reconciler.cli.notify import shown_url

    await send(url, notification(report))
    click.echo(f"Fleet summary sent to {shown_url(url)}", err=True)


notify_option = click.option(
    "--notify",
    metavar="URL",
    default=None,
    help="POST one summary of the merged report (JSON) to this webhook. Shown as scheme://host only.",
)


def _styler() -> Callable[[str, str], str]:
    """The terminal's colours (``cli.console``, imported when a report is written: it loads the engine)."""
    from reconciler.cli.console import styler

    return styler()


def _write(text: str) -> None:
    click.echo(text, nl=False)
    sys.stdout.flush()


@click.group()
def report() -> None:
    """Fleet drift reports (from `drift --stacks DIR --format json`)."""


@report.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_format_option("text: an aligned table for a terminal; json, markdown, html (a page), prometheus.")
@notify_option
def merge(files: tuple[Path, ...], fmt: str, notify: str | None) -> None:
    """Merge the JSON reports of a fleet's shards into one (exit 0 in sync, 2 drift, 1 errored or a
    shard missing). With one FILE: render it in another format."""

    async def body() -> int:
        from reconciler.app.fleet import render
        from reconciler.app.fleet.merge import merge_reports, read_report

        merged = merge_reports({path: read_report(path) for path in files})
        _write(render(merged, fmt, _styler()))
        if merged["missing_shards"]:
            missing = ", ".join(map(str, merged["missing_shards"]))
            count = merged["shards"][0]["count"] if merged["shards"] else "?"
            shards = "shards" if len(merged["missing_shards"]) > 1 else "shard"
            click.echo(f"Error: no report from {shards} {missing} of {count}", err=True)
        if notify:
            await _notify(notify, merged)
        return int(merged["exit_code"])

    run(body)
