"""validate, schema and the sandbox: the commands that need no account."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from reconciler.cli.common import (
    EXIT_OK,
    fail,
    files_option,
    paths_or_cwd,
    run,
    stack_inputs,
)
from reconciler.cli.sandbox_dialects import dialect_options, dialects
from reconciler.common.words import plural


@click.command()
@files_option
def validate(paths: tuple[Path, ...]) -> None:
    """Check the stack offline: syntax, schema, references, environment variables, variables, modules."""
    from reconciler.config import load_stack

    async def body() -> int:
        loaded = load_stack(paths_or_cwd(paths), os.environ, stack_inputs())
        resources, files = plural(len(loaded.resources), "resource"), plural(len(loaded.files), "file")
        click.echo(f"The stack is valid: {resources} in {files}.")
        return EXIT_OK

    run(body)


@click.command()
def schema() -> None:
    """Print the JSON Schema of the stack format."""
    from reconciler.config.schema import stack_schema

    click.echo(json.dumps(stack_schema(), indent=2))


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL: commands, options, choices and file names
    complete on Tab. Load it from your shell's start-up file, or save it where the shell looks
    (see the examples)."""
    from click.shell_completion import get_completion_class

    from reconciler.cli import main

    found = get_completion_class(shell)
    assert found is not None  # the Choice above names only shells click supports
    click.echo(found(main, {}, "reconciler", "_RECONCILER_COMPLETE").source())


@click.group()
def sandbox() -> None:
    """The built-in emulators of the three APIs."""


@sandbox.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on: loopback only, unless --allow-remote.",
)
@click.option(
    "--port",
    default=8787,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port to listen on (0: any free port; the one it got is printed).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the emulators' objects in this folder across restarts (default: in memory only).",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Delay every answer by this many milliseconds, as a distant API would.",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of requests (0 to 1) answered with a fault: a 5xx, a 429, a dropped connection or a "
    "lost response after the change was made.",
)
@click.option(
    "--fault-seed",
    type=int,
    default=None,
    help="Seed of the fault draw, to replay the same faults run after run (default: random).",
)
@click.option("--page-size", type=int, default=None, help="Items per list page (default: each API's own).")
@dialect_options
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host that is not loopback; every emulator then requires $RECONCILER_SANDBOX_API_KEY.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per second per API (token bucket, 1 s burst); over it: 429 with Retry-After.",
)
@click.option(
    "--max-inflight",
    type=click.IntRange(min=1),
    default=None,
    help="Requests in progress at once per API; over it: 503.",
)
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    latency_ms: float,
    fault_rate: float,
    fault_seed: int | None,
    page_size: int | None,
    scramjet_profile: str,
    signaloid_casing: str,
    allow_remote: bool,
    rate_limit: float | None,
    max_inflight: int | None,
) -> None:
    """Serve all emulators on one loopback port."""
    from reconciler.errors import ReconcilerError
    from reconciler.sandbox.bind import check_bind
    from reconciler.sandbox.limits import LimitConfig
    from reconciler.sandbox.server import serve as run_server

    try:
        api_key = check_bind(host, allow_remote, os.environ)
    except ReconcilerError as exc:
        fail(str(exc))

    try:
        run_server(
            host=host,
            port=port,
            data_dir=data_dir,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            fault_seed=fault_seed,
            page_size=page_size,
            limits=LimitConfig(rate_limit=rate_limit, max_inflight=max_inflight),
            echo=click.echo,
            dialects=dialects(scramjet_profile, signaloid_casing),
            api_key=api_key,
        )
    except ReconcilerError as exc:  # cannot listen: one line, before anything was printed
        fail(str(exc))
