"""import, export and state: bringing objects under management, and the record of it."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.common import (
    EXIT_OK,
    fail,
    files_option,
    lock_timeout_option,
    paths_or_cwd,
    render,
    run,
    sandbox_option,
    stack_inputs,
)
from reconciler.common.words import plural

if TYPE_CHECKING:
    from reconciler.state import StateStore


@click.command(name="import")
@files_option
@sandbox_option
@click.argument("address")
@click.argument("remote_id")
def import_cmd(paths: tuple[Path, ...], sandbox: bool, address: str, remote_id: str) -> None:
    """Record an existing object (REMOTE_ID) in state as ADDRESS, declared in the stack, after
    checking its natural key matches. Nothing changes on the API."""
    from reconciler.app.imports import import_resource
    from reconciler.app.session import open_session

    async def body() -> int:
        async with open_session(
            paths_or_cwd(paths), sandbox=sandbox, environ=os.environ, inputs=stack_inputs()
        ) as session:
            result = await import_resource(session, address, remote_id)
        if result.already:
            click.echo(f"{address} already manages {remote_id}; nothing to do.")
        else:
            click.echo(f"Imported {remote_id} as {address} (recorded in state; nothing changed on the API).")
        remaining = result.remaining()
        if remaining is not None:
            click.echo("It differs from the stack; the next apply will do this:\n")
            click.echo(render(remaining.to_json(), "text"), nl=False)
        return EXIT_OK

    run(body)


@click.command()
@files_option
@sandbox_option
@click.option("--kind", "kinds", multiple=True, help="Export only this kind (repeatable). Default: all.")
def export(paths: tuple[Path, ...], sandbox: bool, kinds: tuple[str, ...]) -> None:
    """Print stack YAML for the live objects (of every kind the providers reach, or --kind)."""
    from reconciler.app.export import export_live
    from reconciler.app.session import open_export_session

    async def body() -> int:
        async with open_export_session(
            list(paths), sandbox=sandbox, environ=os.environ, inputs=stack_inputs()
        ) as session:
            exported, notes = await export_live(session, list(kinds))
        click.echo(exported.text, nl=False)
        for note in [*notes, *(f"not exported: {s}" for s in exported.skipped)]:
            click.echo(f"Note: {note}", err=True)
        click.echo(f"Exported {plural(exported.count, 'resource')}.", err=True)
        return EXIT_OK

    run(body)


@click.group()
def state() -> None:
    """Inspect or edit the record of managed resources."""


def _store(paths: tuple[Path, ...], sandbox: bool) -> StateStore:
    """The session's state store, closed when the command ends (a PostgreSQL connection)."""
    from reconciler.app.session import open_session

    store = open_session(
        paths_or_cwd(paths), sandbox=sandbox, environ=os.environ, inputs=stack_inputs()
    ).store
    click.get_current_context().call_on_close(store.close)
    return store


@state.command(name="list")
@files_option
@sandbox_option
def state_list(paths: tuple[Path, ...], sandbox: bool) -> None:
    """List managed addresses and their remote ids."""

    async def body() -> int:
        entries = _store(paths, sandbox).read().entries
        for address, entry in sorted(entries.items()):
            click.echo(f"{address}\t{entry.remote_id}")
        if not entries and not sandbox:
            sandboxed = _store(paths, True)
            if sandboxed.read().entries:
                click.echo(
                    f"No state for real accounts; {sandboxed.description} holds sandbox state: "
                    "`reconciler state list --sandbox` lists it.",
                    err=True,
                )
        return EXIT_OK

    run(body)


@state.command(name="show")
@files_option
@sandbox_option
@click.argument("address")
def state_show(paths: tuple[Path, ...], sandbox: bool, address: str) -> None:
    """Show one state entry as JSON: its address and its fields as the state file holds them
    (docs/state-format.md), whichever backend and format the state is in."""

    async def body() -> int:
        entry = _store(paths, sandbox).read().get(address)
        if entry is None:
            fail(f"{address} is not in state")
        click.echo(json.dumps({"address": address, **entry.to_json()}, indent=2))
        return EXIT_OK

    run(body)


@state.command(name="rm")
@files_option
@sandbox_option
@lock_timeout_option
@click.argument("address")
def state_rm(paths: tuple[Path, ...], sandbox: bool, lock_timeout: float, address: str) -> None:
    """Forget a resource (the live object is left alone, and becomes unmanaged)."""

    from reconciler.cli.progress import Heartbeat, LockHeartbeat, heartbeat_interval

    async def body() -> int:
        store = _store(paths, sandbox)
        echo = functools.partial(click.echo, err=True)
        beat = Heartbeat(echo, "waiting for the state lock", interval=heartbeat_interval(os.environ))
        async with store.lock("state rm", timeout=lock_timeout, watcher=LockHeartbeat(echo, beat)):
            if store.read().get(address) is None:
                fail(f"{address} is not in state")
            await store.record(address, None)
        click.echo(f"Removed {address} from state; the live object was not touched.")
        return EXIT_OK

    run(body)
