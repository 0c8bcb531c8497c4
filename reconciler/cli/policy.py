"""Policies on the command line: ``--policy``/``--policy-namespace`` for plan, apply, drift and
fleet drift, and the ``policy`` commands (``policy test``, ``policy eval``).

The engine is imported by none of this: it runs in its own process (``reconciler/policy``), and
a run without policies does not import ``reconciler.policy`` at all.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.common.words import plural

if TYPE_CHECKING:
    from reconciler.app.policy_gate import PolicyChoice, PolicyGate, Verdict
    from reconciler.app.session import Session

__all__ = ["chosen", "gate", "policy_options", "show_verdict", "verdict_note"]

_KEY = "reconciler.policy"


def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        ctx.meta.setdefault(_KEY, {})[name] = value

    return callback


def policy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--policy PATH (repeatable) and --policy-namespace NS."""
    for option in reversed(
        [
            click.option(
                "--policy",
                "policy_paths",
                metavar="PATH",
                multiple=True,
                expose_value=False,
                type=click.Path(path_type=Path),
                callback=_remember("paths"),
                help="Rego policy file or folder the plan must pass (repeatable; conftest's deny/"
                "violation/warn rules). Besides the stack's own policy: block.",
            ),
            click.option(
                "--policy-namespace",
                metavar="NS",
                default="main",
                show_default=True,
                expose_value=False,
                callback=_remember("namespace"),
                help="The Rego package of the --policy rules.",
            ),
        ]
    ):
        command = option(command)
    return command


def chosen() -> PolicyChoice | None:
    """The command line's policy choice, or None when it gave no --policy."""
    meta = click.get_current_context().meta.get(_KEY, {})
    if not meta.get("paths"):
        return None
    from reconciler.app.policy_gate import PolicyChoice

    return PolicyChoice(tuple(meta["paths"]), meta.get("namespace") or "main")


@asynccontextmanager
async def gate(session: Session, stack: str | None = None) -> AsyncIterator[PolicyGate | None]:
    """The run's policy gate, its engines starting now; None (nothing imported) without policies."""
    choice = chosen()
    if choice is None and getattr(session.loaded.stack, "policy", None) is None:
        yield None
        return
    from reconciler.app.policy_gate import PolicyChoice, open_gate

    opened = open_gate(choice or PolicyChoice(), session.loaded, os.environ, stack)
    if opened is None:
        yield None
        return
    async with opened:
        yield opened


def show_verdict(verdict: Verdict) -> None:
    """The policy section of the text rendering, alone (apply shows the plan first, then this)."""
    from reconciler.cli.console import styler
    from reconciler.engine.presenting.render_policy import policy_text

    click.echo("\n".join(policy_text({"policy": verdict.to_json()}, styler())))


def verdict_note(verdict: Verdict | None, what: str) -> None:
    """Say on stderr that a policy denied the plan (the rendering above shows each denial)."""
    if verdict is not None and verdict.denied:
        click.echo(
            f"Error: denied by policy ({plural(verdict.denial_count(), 'denial')}, listed above); {what}",
            err=True,
        )


@click.group(name="policy")
def policy_group() -> None:
    """Test policies, or judge a saved plan with them, offline (no API is called)."""


@policy_group.command(name="test")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--policy-namespace",
    "namespace",
    default="main",
    show_default=True,
    metavar="NS",
    help="The Rego package of the rules.",
)
def policy_test(path: Path, namespace: str) -> None:
    """Run the tests of the policies in PATH: the cases in PATH/tests/*.yaml and the test_* rules.
    Exit 1 on any failure (or when there is no test)."""
    from reconciler.cli.common import EXIT_ERROR, EXIT_OK, run
    from reconciler.policy.isolate import Limits
    from reconciler.policy.testing import TestOutcome, run_policy_tests

    def show(outcome: TestOutcome) -> None:
        if outcome.passed:
            click.echo(f"PASS {outcome.name}")
        else:
            click.echo(f"FAIL {outcome.name}: {outcome.reason}")

    async def body() -> int:
        outcomes = await run_policy_tests(
            path, namespace=namespace, limits=Limits.from_environ(os.environ), on_result=show
        )
        failed = sum(not o.passed for o in outcomes)
        click.echo(f"\n{len(outcomes) - failed} passed, {failed} failed")
        return EXIT_ERROR if failed else EXIT_OK

    run(body)


@policy_group.command(name="eval")
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    "policy_paths",
    metavar="PATH",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Rego policy file or folder (repeatable).",
)
@click.option(
    "--policy-namespace",
    "namespace",
    default="main",
    show_default=True,
    metavar="NS",
    help="The Rego package of the rules.",
)
@click.option("--stack", "stack", default="", help="The stack name the rules see (input.reconciler.stack).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for a person, json for scripts, markdown for a pull request.",
)
def policy_eval(planfile: Path, policy_paths: tuple[Path, ...], namespace: str, stack: str, fmt: str) -> None:
    """Judge a plan file (`plan --out`, or `plan --format json` saved) with the policies, offline.
    Exit 1 when a policy denies it."""
    from reconciler.cli.common import EXIT_ERROR, EXIT_OK, run

    async def body() -> int:
        from reconciler.app.policy_gate import Verdict
        from reconciler.policy.evaluate import PolicyRun, input_document
        from reconciler.policy.isolate import Limits
        from reconciler.policy.sources import load_policy_set
        from reconciler.policy.testing import read_plan_file

        plan_doc = read_plan_file(planfile)
        policy = load_policy_set(policy_paths, namespace=namespace)
        doc = input_document(plan_doc, stack=stack, command="eval", declared={}, providers={})
        async with PolicyRun(policy, Limits.from_environ(os.environ)) as policy_run:
            verdict = Verdict((await policy_run.evaluate(doc),))
        shown = {"policy": verdict.to_json()}
        if fmt == "json":
            from reconciler.engine.presenting.render import render_json

            click.echo(render_json(shown), nl=False)
        elif fmt == "markdown":
            from reconciler.engine.presenting.render import render_policy_markdown

            click.echo(render_policy_markdown(shown), nl=False)
        else:
            show_verdict(verdict)
        verdict_note(verdict, "this plan must not be applied")
        return EXIT_ERROR if verdict.denied else EXIT_OK

    run(body)
