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
    from reconciler.engine.render_policy import policy_text

    click.echo("\n".join(policy_text({"policy": verdict.to_json()}, styler())))


def verdict_note(verdict: Verdict | None, what: str) -> None:
    """Say on stderr that a policy denied the plan (the rendering above shows each denial)."""
    if verdict is not None and verdict.denied:
        click.echo(
            f"Error: denied by policy ({verdict.denial_count()} denial(s), listed above); {what}", err=True
        )
