"""Terminal output: colour (unless NO_COLOR or not a TTY) and the apply summary; progress is in
``progress``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

import click

from reconciler.common.words import plural
from reconciler.engine.deciding.changes import Action
from reconciler.engine.executing.apply import ApplyResult, Outcome
from reconciler.providers.http import CallStats


def use_colour(stream: TextIO) -> bool:
    """``--no-color`` and ``NO_COLOR`` win; then ``FORCE_COLOR``; else colour on a terminal. The
    command line's choice is the root context's ``color`` (``contract.colour_option``)."""
    ctx = click.get_current_context(silent=True)
    chosen = ctx.find_root().color if ctx is not None else None
    if chosen is not None:
        return chosen
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def styler(stream: TextIO | None = None) -> Callable[[str, str], str]:
    colour = use_colour(stream or sys.stdout)

    def style(text: str, name: str) -> str:
        if not colour:
            return text
        if name == "bold":
            return click.style(text, bold=True)
        return click.style(text, fg=name)

    return style


def apply_summary(result: ApplyResult, command: str = "apply") -> list[str]:
    done = result.by_outcome(Outcome.DONE)
    failed = result.by_outcome(Outcome.FAILED)
    waiting = result.by_outcome(Outcome.NOT_STARTED)
    counts = {a: 0 for a in Action}
    for r in done:
        counts[r.action] += 1
    unrecorded = [r for r in failed if r.unrecorded]
    lines = [
        f"{command.capitalize()} {'complete' if result.ok else 'FAILED'}! "
        f"Resources: {counts[Action.CREATE]} added, "
        f"{counts[Action.UPDATE]} changed, {counts[Action.REPLACE]} replaced, "
        f"{counts[Action.DELETE]} destroyed"
        + (f", {counts[Action.ADOPT]} adopted" if counts[Action.ADOPT] else "")
        + (f", {counts[Action.MOVE]} moved in state" if counts[Action.MOVE] else "")
        + (f", {counts[Action.STATE_ONLY]} recorded in state" if counts[Action.STATE_ONLY] else "")
        + (f"; {len(unrecorded)} more done on the API but NOT recorded in state" if unrecorded else "")
        + "."
    ]
    if failed or waiting:
        lines.append(f"  done: {len(done)}, failed: {len(failed)}, not started: {len(waiting)}")
        for r in sorted(failed, key=lambda r: r.address):
            ident = f" [id={r.remote_id}]" if r.unrecorded and r.remote_id else ""
            lines.append(f"  failed      {r.address} ({r.action.value}){ident}: {r.error}")
        for r in sorted(waiting, key=lambda r: r.address):
            why = f"waits for {', '.join(r.blocked_by)}" if r.blocked_by else (r.note or "interrupted")
            lines.append(f"  not started {r.address} ({r.action.value}): {why}")
        refused = {r.address for r in failed if r.refused}
        blocked_by_refusals = [bool(r.blocked_by) and set(r.blocked_by) <= refused for r in waiting]
        if unrecorded:
            lines.append(
                f"State does NOT record the {plural(len(unrecorded), 'change')} marked [id=…] above; once "
                f"state can be written, run {command} again: it checks live objects by natural key first."
            )
        elif any(not r.refused for r in failed) or not all(blocked_by_refusals):
            lines.append(f"State records everything that was done; run {command} again to finish.")
        else:  # only refusals, and what waits for them: another run is refused the same way
            lines.append(
                f"State records everything that was done. Running {command} again would be refused "
                "the same way: first do what the refusal above says."
            )
    return lines


def http_summary(stats: dict[str, CallStats]) -> list[str]:
    """One line of HTTP figures per API that was called: requests, retries, 429 answers."""
    return [
        f"  {api}: {plural(s.requests, 'request')}, {plural(s.retries, 'retry')}, "
        f"{s.rate_limited} rate-limited (429)"
        for api, s in stats.items()
        if s.requests
    ]
