"""The command line. Thin: parse flags, call the stages, pick a renderer, choose the exit code.

Every error the tool knows about becomes one message on stderr and exit 1; ``--debug`` adds
the traceback and HTTP logs (redacted).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler.errors import ConfigError, ReconcilerError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2

files_option = click.option(
    "-f",
    "--file",
    "paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Stack file or directory (repeatable). Default: the current directory.",
)
sandbox_option = click.option(
    "--sandbox",
    is_flag=True,
    help="Use the built-in emulators (no accounts), persisted in .reconciler/sandbox/.",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True
)
_ALLOW_DELETE_KEY = "reconciler.allow_delete_unmanaged"


def _remember_allowed(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
    ctx.meta[_ALLOW_DELETE_KEY] = frozenset(value)


def _allowed_deletes() -> frozenset[str]:
    return frozenset(click.get_current_context().meta.get(_ALLOW_DELETE_KEY, ()))


allow_delete_option = click.option(
    "--allow-delete-unmanaged",
    metavar="ADDR",
    multiple=True,
    expose_value=False,
    callback=_remember_allowed,
    help="Let deleting ADDR also delete the unmanaged objects it holds, e.g. the package instances of "
    "a Steamship workspace (repeatable). Without it, such a delete is refused.",
)
_SELECT_KEY = "reconciler.selection"


def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        ctx.meta.setdefault(_SELECT_KEY, {})[name] = value

    return callback


def selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--target / --exclude / --allow-mass-delete, handed to the session by ``_configure``."""
    for option in reversed(
        [
            click.option(
                "--target",
                metavar="ADDR",
                multiple=True,
                expose_value=False,
                callback=_remember("targets"),
                help="Only this resource (kind.name) or kind, and what it depends on (repeatable).",
            ),
            click.option(
                "--exclude",
                metavar="ADDR",
                multiple=True,
                expose_value=False,
                callback=_remember("excludes"),
                help="Leave out this resource or kind, and what depends on it (repeatable).",
            ),
            click.option(
                "--allow-mass-delete",
                is_flag=True,
                expose_value=False,
                callback=_remember("allow_mass_delete"),
                help="Allow a plan that deletes more than half of the managed resources.",
            ),
        ]
    ):
        command = option(command)
    return command


def _configure(session: Any) -> None:
    """Hand the command's plan options to the session."""
    chosen = click.get_current_context().meta.get(_SELECT_KEY, {})
    session.allow_delete_unmanaged = _allowed_deletes()
    session.targets = frozenset(chosen.get("targets", ()))
    session.excludes = frozenset(chosen.get("excludes", ()))
    session.allow_mass_delete = bool(chosen.get("allow_mass_delete", False))


lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for the state lock another run holds (0: fail at once, naming the holder).",
)


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _run(coro_fn: Callable[[], Coroutine[Any, Any, int]]) -> NoReturn:
    """Run a command body; map our errors to a message and exit 1 (traceback only with --debug)."""
    debug = click.get_current_context().find_root().params.get("debug", False)
    try:
        code = asyncio.run(coro_fn())
    except ConfigError as exc:
        lines = [str(i) for i in exc.issues]
        header = "Error: the stack is not valid:" if len(lines) > 1 else "Error:"
        click.echo(header if len(lines) > 1 else f"Error: {lines[0]}", err=True)
        if len(lines) > 1:
            for line in lines:
                click.echo(f"  {line}", err=True)
        if debug:
            raise
        sys.exit(EXIT_ERROR)
    except ReconcilerError as exc:
        if debug:
            raise
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted")
    sys.exit(code)


def _paths(paths: tuple[Path, ...]) -> list[Path]:
    return list(paths) or [Path(".")]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks and (redacted) HTTP logs.")
@click.version_option(package_name="reconciler")
def main(debug: bool) -> None:
    """Declarative infrastructure for Signaloid, Scramjet and Steamship: plan, then apply."""
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # its lines carry full URLs; ours are redacted


@main.command()
@files_option
def validate(paths: tuple[Path, ...]) -> None:
    """Check the stack offline: syntax, schema, references, environment variables."""
    from reconciler.config import load_stack

    async def body() -> int:
        loaded = load_stack(_paths(paths), os.environ)
        click.echo(f"The stack is valid: {len(loaded.resources)} resource(s) in {len(loaded.files)} file(s).")
        return EXIT_OK

    _run(body)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the stack format."""
    from reconciler.config.schema import stack_schema

    click.echo(json.dumps(stack_schema(), indent=2))


def _render(doc: dict[str, Any], fmt: str) -> str:
    from reconciler.console import styler
    from reconciler.engine.render import render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(doc)
    if fmt == "markdown":
        return render_markdown(doc)
    return render_text(doc, styler())


@main.command()
@files_option
@sandbox_option
@format_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the plan, bound to the live state it was made from, for `apply FILE`.",
)
@selection_options
@allow_delete_option
def plan(paths: tuple[Path, ...], sandbox: bool, fmt: str, detailed_exitcode: bool, out: Path | None) -> None:
    """Show what apply would do."""
    from reconciler.workflow import open_session

    async def body() -> int:
        async with open_session(_paths(paths), sandbox=sandbox, environ=os.environ) as session:
            _configure(session)
            the_plan, _ = await session.plan()
            if out is not None:
                from reconciler.gitops import save

                save(session, the_plan, out)
        click.echo(_render(the_plan.to_json(), fmt), nl=False)
        if out is not None:
            flags = [*(f"-f {p}" for p in paths), *(["--sandbox"] if sandbox else [])]
            again = " ".join(["reconciler apply", *flags])
            click.echo(f"Saved the plan to {out}; apply exactly this plan with: {again} {out}", err=True)
        if the_plan.refused():
            return EXIT_ERROR
        return EXIT_CHANGES if detailed_exitcode and the_plan.has_changes() else EXIT_OK

    _run(body)


@main.command()
@files_option
@sandbox_option
@format_option
@click.option(
    "--notify",
    metavar="URL",
    default=None,
    help="POST the drift report (JSON) to this webhook; failing to is an error. Shown as scheme://host only.",
)
@selection_options
def drift(paths: tuple[Path, ...], sandbox: bool, fmt: str, notify: str | None) -> None:
    """Read-only check: exit 0 in sync, 2 drifted or pending changes, 1 error. Takes no lock."""
    from reconciler.workflow import open_session

    async def body() -> int:
        async with open_session(_paths(paths), sandbox=sandbox, environ=os.environ) as session:
            _configure(session)
            the_plan, _ = await session.plan()
        doc = the_plan.to_json()
        click.echo(_render(doc, fmt), nl=False)
        if notify:
            from reconciler.notify import drift_report, shown_url
            from reconciler.notify import notify as send

            await send(notify, drift_report(doc, drifted=the_plan.has_changes()))
            click.echo(f"Drift report sent to {shown_url(notify)}", err=True)
        return EXIT_CHANGES if the_plan.has_changes() else EXIT_OK

    _run(body)


def _confirm(auto_approve: bool, question: str) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        _fail("confirmation needed but standard input is not a terminal; pass --auto-approve")
    answer = click.prompt(f"{question}\n  Only 'yes' will be accepted", default="", show_default=False)
    return answer.strip() == "yes"


def _apply_command(
    paths: tuple[Path, ...],
    sandbox: bool,
    auto_approve: bool,
    parallelism: int,
    destroy: bool,
    lock_timeout: float = 0.0,
    planfile: Path | None = None,
) -> None:
    from reconciler.console import apply_summary, http_summary, progress_printer
    from reconciler.workflow import open_session

    async def body() -> int:
        async with open_session(_paths(paths), sandbox=sandbox, environ=os.environ) as session:
            _configure(session)
            with session.store.lock("destroy" if destroy else "apply", timeout=lock_timeout):
                if planfile is not None:  # a reviewed plan: exactly its actions, or nothing (stale)
                    from reconciler.engine.saved import load
                    from reconciler.gitops import plan_from_saved

                    the_plan, unreviewed = await plan_from_saved(session, load(planfile))
                    for address in unreviewed:
                        click.echo(f"Note: {address} has changes not in {planfile}; not applied.", err=True)
                else:
                    the_plan, _ = await session.plan(destroy=destroy)
                click.echo(_render(the_plan.to_json(), "text"), nl=False)
                if not the_plan.has_changes():
                    return EXIT_OK
                verb = "destroy these resources" if destroy else "perform these actions"
                if planfile is None and not _confirm(auto_approve, f"\nDo you want to {verb}?"):
                    click.echo("Apply cancelled.")
                    return EXIT_ERROR
                click.echo("")
                result = await session.apply(
                    the_plan,
                    parallelism=parallelism,
                    on_event=progress_printer(click.echo),
                    on_notice=lambda line: click.echo(line, err=True),
                    destroy=destroy,
                )
                problems = await session.verify(the_plan, result, destroy=destroy)
                calls = http_summary(session.http_stats())
        click.echo("")
        for line in apply_summary(result, "destroy" if destroy else "apply"):
            click.echo(line)
        if calls:
            click.echo("API calls (including the plan and the check after apply):")
            for line in calls:
                click.echo(line)
        for problem in problems:
            click.echo(f"Error: {problem}", err=True)
        return EXIT_OK if result.ok and not problems else EXIT_ERROR

    _run(body)


@main.command(name="apply")
@files_option
@sandbox_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 256), default=8, show_default=True)
@lock_timeout_option
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@selection_options
@allow_delete_option
def apply_cmd(
    paths: tuple[Path, ...],
    sandbox: bool,
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
    planfile: Path | None,
) -> None:
    """Make live state match the stack; with PLANFILE (from `plan --out`), apply exactly that
    reviewed plan, without asking, or refuse if what it was made from has changed since."""
    _apply_command(
        paths, sandbox, auto_approve, parallelism, destroy=False, lock_timeout=lock_timeout, planfile=planfile
    )


@main.command()
@files_option
@sandbox_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 256), default=8, show_default=True)
@lock_timeout_option
@selection_options
@allow_delete_option
def destroy(
    paths: tuple[Path, ...], sandbox: bool, auto_approve: bool, parallelism: int, lock_timeout: float
) -> None:
    """Delete everything this stack manages (everything in state)."""
    _apply_command(paths, sandbox, auto_approve, parallelism, destroy=True, lock_timeout=lock_timeout)


@main.command(name="import")
@files_option
@sandbox_option
@click.argument("address")
@click.argument("remote_id")
def import_cmd(paths: tuple[Path, ...], sandbox: bool, address: str, remote_id: str) -> None:
    """Record an existing object (REMOTE_ID) in state as ADDRESS, declared in the stack, after
    checking its natural key matches. Nothing changes on the API."""
    from reconciler.gitops import import_resource
    from reconciler.workflow import open_session

    async def body() -> int:
        async with open_session(_paths(paths), sandbox=sandbox, environ=os.environ) as session:
            result = await import_resource(session, address, remote_id)
        if result.already:
            click.echo(f"{address} already manages {remote_id}; nothing to do.")
        else:
            click.echo(f"Imported {remote_id} as {address} (recorded in state; nothing changed on the API).")
        remaining = result.remaining()
        if remaining is not None:
            click.echo("It differs from the stack; the next apply will do this:\n")
            click.echo(_render(remaining.to_json(), "text"), nl=False)
        return EXIT_OK

    _run(body)


@main.command()
@files_option
@sandbox_option
@click.option("--kind", "kinds", multiple=True, help="Export only this kind (repeatable). Default: all.")
def export(paths: tuple[Path, ...], sandbox: bool, kinds: tuple[str, ...]) -> None:
    """Print stack YAML for the live objects (of every kind the providers reach, or --kind)."""
    from reconciler.gitops import export_live, open_export_session

    async def body() -> int:
        async with open_export_session(list(paths), sandbox=sandbox, environ=os.environ) as session:
            exported, notes = await export_live(session, list(kinds))
        click.echo(exported.text, nl=False)
        for note in [*notes, *(f"not exported: {s}" for s in exported.skipped)]:
            click.echo(f"Note: {note}", err=True)
        click.echo(f"Exported {exported.count} resource(s).", err=True)
        return EXIT_OK

    _run(body)


@main.group()
def state() -> None:
    """Inspect or edit the record of managed resources."""


def _store(paths: tuple[Path, ...], sandbox: bool) -> Any:
    from reconciler.workflow import open_session

    store = open_session(_paths(paths), sandbox=sandbox, environ=os.environ).store
    if hasattr(store, "close"):  # the postgres store's connection, closed when the command ends
        click.get_current_context().call_on_close(store.close)
    return store


@state.command(name="list")
@files_option
@sandbox_option
def state_list(paths: tuple[Path, ...], sandbox: bool) -> None:
    """List managed addresses and their remote ids."""

    async def body() -> int:
        for address, entry in sorted(_store(paths, sandbox).read().entries.items()):
            click.echo(f"{address}\t{entry.remote_id}")
        return EXIT_OK

    _run(body)


@state.command(name="show")
@files_option
@sandbox_option
@click.argument("address")
def state_show(paths: tuple[Path, ...], sandbox: bool, address: str) -> None:
    """Show one state entry as JSON."""

    async def body() -> int:
        entry = _store(paths, sandbox).read().get(address)
        if entry is None:
            _fail(f"{address} is not in state")
        click.echo(json.dumps({"address": address, **entry.to_json()}, indent=2))
        return EXIT_OK

    _run(body)


@state.command(name="rm")
@files_option
@sandbox_option
@lock_timeout_option
@click.argument("address")
def state_rm(paths: tuple[Path, ...], sandbox: bool, lock_timeout: float, address: str) -> None:
    """Forget a resource (the live object is left alone, and becomes unmanaged)."""

    async def body() -> int:
        store = _store(paths, sandbox)
        with store.lock("state rm", timeout=lock_timeout):
            if store.read().get(address) is None:
                _fail(f"{address} is not in state")
            await store.record(address, None)
        click.echo(f"Removed {address} from state; the live object was not touched.")
        return EXIT_OK

    _run(body)


@main.group()
def sandbox() -> None:
    """The built-in emulators of the three APIs."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, type=int)
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="Persist here (default: memory)."
)
@click.option("--latency-ms", type=float, default=0.0, show_default=True)
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--fault-seed", type=int, default=None)
@click.option("--page-size", type=int, default=None, help="Items per list page (default: each API's own).")
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    latency_ms: float,
    fault_rate: float,
    fault_seed: int | None,
    page_size: int | None,
) -> None:
    """Serve all emulators on one loopback port."""
    from reconciler.sandbox.server import serve as run_server

    run_server(
        host=host,
        port=port,
        data_dir=data_dir,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        page_size=page_size,
        echo=click.echo,
    )


if __name__ == "__main__":
    main()
