"""plan, drift, apply, destroy: the commands that compare the stack with live state."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli import fleet, policy
from reconciler.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    allow_delete_option,
    confirm,
    files_option,
    format_option,
    lock_timeout_option,
    paths_or_cwd,
    plan_options,
    render,
    run,
    sandbox_option,
    selection_options,
    stack_inputs,
    target_options,
)

if TYPE_CHECKING:
    from reconciler.app.policy_gate import Verdict
    from reconciler.app.session import Session
    from reconciler.engine.deciding.plan import Plan

verbose_option = click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Print a line as each action starts and ends, also on a terminal (where the default is one "
    "live bar per kind).",
)


@click.command()
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
@policy.policy_options
def plan(paths: tuple[Path, ...], sandbox: bool, fmt: str, detailed_exitcode: bool, out: Path | None) -> None:
    """Show what apply would do."""
    from reconciler.app.session import open_session
    from reconciler.state.base import location

    async def body() -> int:
        async with (
            open_session(
                paths_or_cwd(paths), sandbox=sandbox, environ=os.environ, inputs=stack_inputs()
            ) as session,
            policy.gate(session) as gate,
        ):
            the_plan = await _planned(session)
            state = location(session.store)
            if out is not None:
                from reconciler.app.saved_plans import save

                save(session, the_plan, out)
            doc = the_plan.to_json()
            verdict = await gate.judge(doc, "plan") if gate is not None else None
        if verdict is not None:
            doc["policy"] = verdict.to_json()
        doc["state"] = state
        click.echo(render(doc, fmt), nl=False)
        if out is not None:
            inputs = stack_inputs()
            flags = [
                *(f"-f {p}" for p in paths),
                # Names only: a value may be a secret; the saved plan refuses any other value.
                *(f"--var {v.partition('=')[0]}=…" for v in inputs.assignments),
                *(f"--var-file {shlex.quote(str(f))}" for f in inputs.files),
                *(["--sandbox"] if sandbox else []),
            ]
            again = " ".join(["reconciler apply", *flags])
            same = " (with the same --var values)" if inputs.assignments else ""
            click.echo(
                f"Saved the plan to {out}; apply exactly this plan with: {again} {out}{same}", err=True
            )
        if verdict is not None and verdict.denied:
            policy.verdict_note(verdict, "this plan must not be applied")
            return EXIT_ERROR
        if the_plan.refused():
            return EXIT_ERROR
        return EXIT_CHANGES if detailed_exitcode and the_plan.has_changes() else EXIT_OK

    run(body)


@click.command()
@files_option
@sandbox_option
@fleet.format_option
@fleet.fleet_options
@click.option(
    "--notify",
    metavar="URL",
    default=None,
    help="POST the drift report (JSON) to this webhook; failing to is an error. Shown as scheme://host only.",
)
@target_options
@policy.policy_options
def drift(paths: tuple[Path, ...], sandbox: bool, fmt: str, notify: str | None) -> None:
    """Read-only check: exit 0 in sync, 2 drifted or pending changes, 1 error. Takes no lock.
    With --stacks DIR: every stack under DIR (1 wins over 2: any stack errored)."""
    if fleet.requested(fmt):
        return fleet.run_fleet(paths, sandbox, fmt, notify)
    from reconciler.app.session import open_session
    from reconciler.state.base import location

    async def body() -> int:
        async with (
            open_session(
                paths_or_cwd(paths), sandbox=sandbox, environ=os.environ, inputs=stack_inputs()
            ) as session,
            policy.gate(session) as gate,
        ):
            the_plan = await _planned(session)
            state = location(session.store)
            doc = the_plan.to_json()
            verdict = await gate.judge(doc, "drift") if gate is not None else None
        if verdict is not None:
            doc["policy"] = verdict.to_json()
        doc["state"] = state
        click.echo(render(doc, fmt, report="drift"), nl=False)
        if notify:
            from reconciler.cli.notify import drift_report, shown_url
            from reconciler.cli.notify import notify as send

            await send(notify, drift_report(doc, drifted=the_plan.has_changes()))
            click.echo(f"Drift report sent to {shown_url(notify)}", err=True)
        if verdict is not None and verdict.denied:
            policy.verdict_note(verdict, "applying these changes would be refused")
            return EXIT_ERROR
        return EXIT_CHANGES if the_plan.has_changes() else EXIT_OK

    run(body)


async def _planned(session: Session) -> Plan:
    """The session's plan, with a heartbeat on stderr while live state is read (stdout stays the
    report's)."""
    from reconciler.app.planning import Scope, plan_run
    from reconciler.cli.progress import Heartbeat, heartbeat_interval, reading

    interval = heartbeat_interval(os.environ)
    words = reading("reading live state", session.http_stats)
    beat = Heartbeat(lambda line: click.echo(line, err=True), words, interval=interval).start()
    try:
        return (await plan_run(session, Scope(plan_options()))).plan
    finally:
        beat.stop()


def _apply_command(
    paths: tuple[Path, ...],
    sandbox: bool,
    auto_approve: bool,
    parallelism: int,
    destroy: bool,
    lock_timeout: float = 0.0,
    planfile: Path | None = None,
    verbose: bool = False,
) -> None:
    import sys

    from reconciler.app.apply_run import apply_stack
    from reconciler.app.session import open_session
    from reconciler.cli.console import apply_summary, http_summary, use_colour
    from reconciler.cli.interrupt import InFlight
    from reconciler.cli.progress import (
        ApplyProgress,
        Heartbeat,
        LockHeartbeat,
        heartbeat_interval,
        wants_live,
    )
    from reconciler.cli.progress import reading as words_of
    from reconciler.state.base import location

    verb = "destroy these resources" if destroy else "perform these actions"
    flight = InFlight("destroy" if destroy else "apply")
    interval = heartbeat_interval(os.environ)
    report = "destroy" if destroy else "plan"
    state: list[dict[str, str] | None] = [None]  # where the session keeps state, once it is open
    api_calls: list[Callable[[], Mapping[str, Any]]] = [dict]  # the session's calls per API, once open
    progress = ApplyProgress(
        click.echo,
        live=wants_live(sys.stdout, verbose),
        colour=use_colour(sys.stdout),
        heartbeat_s=interval,
        calls=lambda: api_calls[0](),
    )

    def waiting_on_apis(what: str) -> Callable[[], str]:
        return words_of(what, lambda: api_calls[0]())

    reading = Heartbeat(
        lambda line: click.echo(line, err=True), waiting_on_apis("reading live state"), interval=interval
    )

    def ask(_plan: object) -> bool:
        if confirm(auto_approve, f"\nDo you want to {verb}?"):
            return True
        click.echo("Apply cancelled.")
        return False

    def start(the_plan: Plan) -> None:
        flight.started()
        click.echo("")
        progress.start(the_plan.pending())

    def checking() -> None:
        progress.stop()
        reading.switch(waiting_on_apis(f"checking live state after the {'destroy' if destroy else 'apply'}"))

    def show(the_plan: Plan) -> None:
        reading.stop()
        click.echo(render({**the_plan.to_json(), "state": state[0]}, "text", report=report), nl=False)

    async def body() -> int:
        reading.start()
        async with (
            open_session(
                paths_or_cwd(paths), sandbox=sandbox, environ=os.environ, inputs=stack_inputs()
            ) as session,
            policy.gate(session) as gate,
        ):
            state[0] = location(session.store)
            api_calls[0] = session.http_stats
            judge = None
            if gate is not None:

                async def judge(the_plan: Plan) -> Verdict:
                    verdict = await gate.judge(the_plan.to_json(), "destroy" if destroy else "apply")
                    policy.show_verdict(verdict)
                    return verdict

            try:
                done = await apply_stack(
                    session,
                    destroy=destroy,
                    parallelism=parallelism,
                    confirm=ask,
                    show_plan=show,
                    on_notice=lambda line: click.echo(line, err=True),
                    on_event=flight.follow(progress.on_event),
                    on_start=start,
                    on_check=checking,
                    lock_timeout=lock_timeout,
                    lock_watcher=LockHeartbeat(lambda line: click.echo(line, err=True), reading),
                    planfile=planfile,
                    options=plan_options(),
                    judge=judge,
                )
            finally:
                reading.stop()
                progress.stop()
        if done.denied:
            policy.verdict_note(done.verdict, "nothing was applied")
            return EXIT_ERROR
        if done.result is None:  # nothing to do, or not confirmed
            return EXIT_OK if not done.plan.has_changes() else EXIT_ERROR
        click.echo("")
        for line in apply_summary(done.result, "destroy" if destroy else "apply"):
            click.echo(line)
        calls = http_summary(done.calls or {})
        if calls:
            check = "the check after destroy" if destroy else "the check after apply"
            click.echo(f"API calls (including the plan and {check}):")
            for line in calls:
                click.echo(line)
        for problem in done.problems:
            click.echo(f"Error: {problem}", err=True)
        return EXIT_OK if done.ok else EXIT_ERROR

    run(body, on_interrupt=flight.lines)


# engine.executing.apply.DEFAULT_PARALLELISM, written out so that `--help` imports no engine.
parallelism_option = click.option(
    "--parallelism",
    type=click.IntRange(1, 256),
    default=64,
    show_default=True,
    help="At most this many actions at once; calls per API adapt below it to the API's speed and limits.",
)


@click.command(name="apply")
@files_option
@sandbox_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@parallelism_option
@lock_timeout_option
@verbose_option
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@selection_options
@allow_delete_option
@policy.policy_options
def apply_cmd(
    paths: tuple[Path, ...],
    sandbox: bool,
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
    verbose: bool,
    planfile: Path | None,
) -> None:
    """Make live state match the stack; with PLANFILE (from `plan --out`), apply exactly that
    reviewed plan, without asking, or refuse if what it was made from has changed since."""
    _apply_command(
        paths,
        sandbox,
        auto_approve,
        parallelism,
        destroy=False,
        lock_timeout=lock_timeout,
        planfile=planfile,
        verbose=verbose,
    )


@click.command()
@files_option
@sandbox_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@parallelism_option
@lock_timeout_option
@verbose_option
@target_options
@allow_delete_option
@policy.policy_options
def destroy(
    paths: tuple[Path, ...],
    sandbox: bool,
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
    verbose: bool,
) -> None:
    """Delete everything this stack manages (everything in state)."""
    _apply_command(
        paths, sandbox, auto_approve, parallelism, destroy=True, lock_timeout=lock_timeout, verbose=verbose
    )
