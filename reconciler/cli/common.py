"""What the commands share: options, running a command body, rendering, confirmation.

Every error the tool knows about becomes one message on stderr and exit 1 (``run``);
``--debug`` adds the traceback and HTTP logs (redacted).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from reconciler.errors import ConfigError, ReconcilerError, os_error_message

if TYPE_CHECKING:
    from reconciler.app.planning import PlanOptions
    from reconciler.config.variables import VariableInputs

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def collect_garbage_less() -> None:
    """Run the cyclic garbage collector every 50,000 new objects instead of every 700.

    A command builds tens of thousands of objects that all live to its end (the loaded stack,
    the listed objects, the plan). At the default threshold the collector walks them again and
    again: a tenth of the CPU of a plan of 1,000 resources. The memory the collector frees
    here is that of reference cycles only, which are rare and small (as mypy does, for the same reason).
    """
    gc.set_threshold(50_000)


def skip_pydantic_plugins() -> None:
    """Tell pydantic not to look for plugins (unless the user set ``PYDANTIC_DISABLE_PLUGINS``).

    Building the first model scans every installed distribution's entry points for pydantic
    plugins: ~10 ms of each command's start-up, for hooks (validation tracing) that the tool's own
    internal models have no use for. Documented by pydantic ("Disabling plugins")."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


_VARIABLES_KEY = "reconciler.variables"


def _remember_variables(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        ctx.meta.setdefault(_VARIABLES_KEY, {})[name] = value

    return callback


def files_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """-f (the stack), and --var / --var-file (its variables, read by :func:`stack_inputs`)."""
    for option in reversed(
        [
            click.option(
                "-f",
                "--file",
                "paths",
                multiple=True,
                type=click.Path(path_type=Path),
                help="Stack file or directory (repeatable). Default: the current directory.",
            ),
            click.option(
                "--var",
                "variables",
                metavar="NAME=VALUE",
                multiple=True,
                expose_value=False,
                callback=_remember_variables("assignments"),
                help="Set a variable of the stack; VALUE is read as YAML (repeatable; beats --var-file).",
            ),
            click.option(
                "--var-file",
                metavar="FILE",
                multiple=True,
                type=click.Path(path_type=Path),
                expose_value=False,
                callback=_remember_variables("files"),
                help="A YAML mapping of variable values (repeatable; a later file wins). "
                "Then RECONCILER_VAR_NAME, then the default.",
            ),
        ]
    ):
        command = option(command)
    return command


def stack_inputs() -> VariableInputs:
    """What --var and --var-file gave, as one value for ``load_stack``."""
    from reconciler.config.variables import VariableInputs

    chosen = click.get_current_context().meta.get(_VARIABLES_KEY, {})
    return VariableInputs(tuple(chosen.get("assignments", ())), tuple(chosen.get("files", ())))


sandbox_option = click.option(
    "--sandbox",
    is_flag=True,
    help="Use the built-in emulators (no accounts), persisted in .reconciler/sandbox/.",
)
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for a person; json for scripts (docs/plan-format.md); markdown for a pull request.",
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


def target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--target / --exclude, handed to the session by ``plan_options``."""
    for option in reversed(
        [
            click.option(
                "--target",
                metavar="ADDR",
                multiple=True,
                expose_value=False,
                callback=_remember("targets"),
                help="Only this resource (kind.name) or kind, and what it depends on (repeatable). "
                "An ADDR that names no kind or matches nothing is an error (exit 1).",
            ),
            click.option(
                "--exclude",
                metavar="ADDR",
                multiple=True,
                expose_value=False,
                callback=_remember("excludes"),
                help="Leave out this resource or kind, and what depends on it (repeatable).",
            ),
        ]
    ):
        command = option(command)
    return command


def selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--target / --exclude and --allow-mass-delete: for the commands whose plan may be applied
    (plan, apply). Not on drift (it changes nothing) nor destroy (deleting everything is its
    purpose; it asks instead)."""
    command = click.option(
        "--allow-mass-delete",
        is_flag=True,
        expose_value=False,
        callback=_remember("allow_mass_delete"),
        help="Allow a plan that deletes more than half of the managed resources (and at least 5); "
        "without it, apply refuses such a plan and plan warns.",
    )(command)
    return target_options(command)


def plan_options() -> PlanOptions:
    """The command's plan options (--target, --exclude, --allow-*), as one frozen value."""
    from reconciler.app.planning import PlanOptions
    from reconciler.engine.deciding.select import SelectionError, check_selectors
    from reconciler.kinds import KINDS_BY_NAME

    chosen = click.get_current_context().meta.get(_SELECT_KEY, {})
    try:  # a typo'd kind is refused before any API is read
        check_selectors("--target", chosen.get("targets", ()), KINDS_BY_NAME)
        check_selectors("--exclude", chosen.get("excludes", ()), KINDS_BY_NAME)
    except SelectionError as exc:
        fail(str(exc))
    return PlanOptions(
        allow_delete_unmanaged=_allowed_deletes(),
        targets=frozenset(chosen.get("targets", ())),
        excludes=frozenset(chosen.get("excludes", ())),
        allow_mass_delete=bool(chosen.get("allow_mass_delete", False)),
    )


lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for the state lock another run holds, saying every 10 s who holds it (0: fail "
    "at once, naming the holder).",
)


def fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def run(
    coro_fn: Callable[[], Coroutine[Any, Any, int]],
    on_interrupt: Callable[[], list[str]] | None = None,
    *,
    deadline: bool = True,
) -> NoReturn:
    """Run a command body within the run's deadline (``cli/deadline.py``; none with ``deadline=False``:
    ``watch`` runs until stopped); map our errors to a message and exit 1 (traceback only with
    --debug). ``on_interrupt``: the lines Ctrl-C prints (the first after ``Error:``), for a command
    that can say what was in flight."""
    from reconciler.cli.contract import debug_enabled

    debug = debug_enabled()
    try:
        from reconciler.cli.deadline import run_deadline, within

        seconds = run_deadline(os.environ) if deadline else None
        code = asyncio.run(within(coro_fn(), seconds))
    except ConfigError as exc:
        lines = [str(i) for i in exc.issues]
        header = "Error: the stack is not valid:" if len(lines) > 1 else "Error:"
        click.echo(header if len(lines) > 1 else f"Error: {lines[0]}", err=True)
        if len(lines) > 1:
            for line in exc.shown():  # at most MAX_ISSUES_SHOWN, then the count
                click.echo(f"  {line}", err=True)
        if debug:
            raise
        sys.exit(EXIT_ERROR)
    except ReconcilerError as exc:
        if debug:
            raise
        fail(str(exc))
    except KeyboardInterrupt:
        first, *more = on_interrupt() if on_interrupt is not None else ["interrupted"]
        for line in [f"Error: {first}", *more]:
            click.echo(line, err=True)
        sys.exit(EXIT_ERROR)
    except OSError as exc:  # a file the tool writes (lock, journal, sandbox data) cannot be written
        if debug:
            raise
        fail(os_error_message(exc))
    sys.exit(code)


def paths_or_cwd(paths: tuple[Path, ...]) -> list[Path]:
    return list(paths) or [Path(".")]


def confirm(auto_approve: bool, question: str) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        fail("confirmation needed but standard input is not a terminal; pass --auto-approve")
    answer = click.prompt(f"{question}\n  Only 'yes' will be accepted", default="", show_default=False)
    return answer.strip() == "yes"


def render(doc: dict[str, Any], fmt: str, report: str = "plan") -> str:
    """``report``: "plan", "drift" or "destroy", for each one's own title and words. Where the
    stack's state is (the plan JSON's ``state``, when the command set it) is said in the header of
    text and Markdown."""
    from reconciler.cli.console import styler
    from reconciler.engine.presenting.render import render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(doc)
    state = doc["state"]["description"] if doc.get("state") else None
    if fmt == "markdown":
        text = render_markdown(doc, report=report)
        if state is None:
            return text
        from reconciler.common.escape import md_code

        title, _, rest = text.partition("\n")
        return f"{title}\n\nState: {md_code(state)}\n{rest}"
    text = render_text(doc, styler(), report=report)
    if state is None:
        return text
    title, _, rest = text.partition("\n")
    return f"{title}\nState: {state}\n{rest}"
