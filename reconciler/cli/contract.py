"""Two command-line contracts CI jobs and crons rely on, kept out of the commands themselves.

- **Usage errors exit 1.** Click exits 2 on an unknown option, a bad choice or a missing
  argument; here 2 means only "changes present / drifted" (``plan --detailed-exitcode``, ``drift``),
  so ``reconciler plan --fromat markdown --detailed-exitcode || [ $? -eq 2 ]`` must fail, not pass.
- **``--debug`` anywhere**: before the command, after it (``reconciler plan --debug``), or
  ``RECONCILER_DEBUG=1``; every command and group takes it, and ``--no-color`` the same way.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

EXIT_USAGE = 1
_DEBUG_KEY = "reconciler.debug"
_HELP = "Show tracebacks and (redacted) HTTP logs (also RECONCILER_DEBUG=1)."


class CliGroup(click.Group):
    """The root group: click's own error handling, except that every usage error exits 1."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_USAGE)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_USAGE)
        except OSError as exc:
            if exc.errno != errno.EPIPE:  # output piped into `head` that closed early: not an error
                raise
            sys.exit(EXIT_USAGE)
        sys.exit(code if isinstance(code, int) else 0)


def _enable(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    root = ctx.find_root()
    if not value or root.meta.get(_DEBUG_KEY):
        return
    root.meta[_DEBUG_KEY] = True
    from reconciler.common.redact import enable_debug_logging

    enable_debug_logging()  # every logger, every record redacted (reconciler/redact.py)


def debug_option(envvar: str | None = None) -> Callable[[Any], Any]:
    return click.option(
        "--debug", is_flag=True, expose_value=False, callback=_enable, envvar=envvar, help=_HELP
    )


def add_debug_everywhere(group: click.Group) -> None:
    """Give every command under ``group`` (recursively) its own ``--debug`` and ``--no-color``."""
    for command in group.commands.values():
        if not any(p.name == "debug" for p in command.params):
            debug_option()(command)
        if not any(p.name == "no_color" for p in command.params):
            colour_option(command)
        if isinstance(command, click.Group):
            add_debug_everywhere(command)


def _colour(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--no-color``, ``NO_COLOR`` and ``FORCE_COLOR`` (no-color.org, force-color.org): the root
    context's ``color`` is what click.echo and every styler read (``console.use_colour``)."""
    import os

    root = ctx.find_root()
    if value or os.environ.get("NO_COLOR"):
        root.color = False
    elif os.environ.get("FORCE_COLOR") and root.color is None:
        root.color = True


colour_option = click.option(
    "--no-color",
    "--no-colour",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_colour,
    help="No colour in any output (as NO_COLOR=1 does). FORCE_COLOR=1 forces colour when not a terminal.",
)


def debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get(_DEBUG_KEY))
