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
def plan(paths: tuple[Path, ...], sandbox: bool, fmt: str, detailed_exitcode: bool) -> None:
    """Show what apply would do."""
    from reconciler.workflow import open_session

    async def body() -> int:
        async with open_session(_paths(paths), sandbox=sandbox, environ=os.environ) as session:
            the_plan, _ = await session.plan()
        click.echo(_render(the_plan.to_json(), fmt), nl=False)
        if the_plan.refused():
            return EXIT_ERROR
        return EXIT_CHANGES if detailed_exitcode and the_plan.has_changes() else EXIT_OK

    _run(body)


@main.command()
@files_option
@sandbox_option
@format_option
def drift(paths: tuple[Path, ...], sandbox: bool, fmt: str) -> None:
    """Read-only check: exit 0 in sync, 2 drifted or pending changes, 1 error. Takes no lock."""
    from reconciler.workflow import open_session

    async def body() -> int:
        async with open_session(_paths(paths), sandbox=sandbox, environ=os.environ) as session:
            the_plan, _ = await session.plan()
        click.echo(_render(the_plan.to_json(), fmt), nl=False)
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
) -> None:
    from reconciler.console import apply_summary, progress_printer
    from reconciler.workflow import open_session

    async def body() -> int:
        async with open_session(_paths(paths), sandbox=sandbox, environ=os.environ) as session:
            with session.store.lock("destroy" if destroy else "apply", timeout=lock_timeout):
                the_plan, _ = await session.plan(destroy=destroy)
                click.echo(_render(the_plan.to_json(), "text"), nl=False)
                if not the_plan.has_changes():
                    return EXIT_OK
                verb = "destroy these resources" if destroy else "perform these actions"
                if not _confirm(auto_approve, f"\nDo you want to {verb}?"):
                    click.echo("Apply cancelled.")
                    return EXIT_ERROR
                click.echo("")
                result = await session.apply(
                    the_plan, parallelism=parallelism, on_event=progress_printer(click.echo)
                )
                problems = await session.verify(the_plan, result, destroy=destroy)
        click.echo("")
        for line in apply_summary(result):
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
def apply_cmd(
    paths: tuple[Path, ...], sandbox: bool, auto_approve: bool, parallelism: int, lock_timeout: float
) -> None:
    """Make live state match the stack."""
    _apply_command(paths, sandbox, auto_approve, parallelism, destroy=False, lock_timeout=lock_timeout)


@main.command()
@files_option
@sandbox_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 256), default=8, show_default=True)
@lock_timeout_option
def destroy(
    paths: tuple[Path, ...], sandbox: bool, auto_approve: bool, parallelism: int, lock_timeout: float
) -> None:
    """Delete everything this stack manages (everything in state)."""
    _apply_command(paths, sandbox, auto_approve, parallelism, destroy=True, lock_timeout=lock_timeout)


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
