"""The command line. Thin: parse flags, call the application layer (``reconciler.app``), pick a
renderer, choose the exit code.

Commands live in ``plan_apply`` (plan, drift, apply, destroy), ``manage`` (import, export,
state) and ``misc`` (validate, schema, sandbox); what they share is in ``common``; terminal
output in ``console``, ``drift --notify`` in ``notify``. Each
command imports the heavy parts of the tool only when it runs, so ``--help`` stays fast.
The contracts scripts rely on (usage errors exit 1, ``--debug`` anywhere) are in ``contract``.
"""

from __future__ import annotations

import click

from reconciler.cli import fleet, manage, misc, plan_apply, policy, watch
from reconciler.cli.common import collect_garbage_less, skip_pydantic_plugins
from reconciler.cli.contract import CliGroup, add_debug_everywhere, colour_option, debug_option
from reconciler.cli.help_text import add_epilogs

__all__ = ["main"]


@click.group(
    cls=CliGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="\b\nStart here (no account needed):\n"
    "  reconciler apply --sandbox --auto-approve -f examples/quickstart\n"
    "  reconciler plan --sandbox -f examples/quickstart\n\n"
    "\b\nExit codes: 0 success / no changes; 2 changes present (plan --detailed-exitcode, drift); "
    "1 any error.\n\n"
    "\b\nColour: on at a terminal; NO_COLOR (or --no-color) turns it off, FORCE_COLOR on (CI logs).\n"
    "Shell completion: reconciler completion bash|zsh|fish --help.",
)
@debug_option(envvar="RECONCILER_DEBUG")
@colour_option
@click.version_option(package_name="reconciler-iac")
def main() -> None:
    """Declarative infrastructure for Signaloid, Scramjet and Steamship: plan, then apply.

    Each command's --help describes its options, with examples and exit codes."""
    collect_garbage_less()
    skip_pydantic_plugins()


for command in (
    misc.validate,
    misc.schema,
    plan_apply.plan,
    plan_apply.drift,
    plan_apply.apply_cmd,
    plan_apply.destroy,
    manage.import_cmd,
    manage.export,
    manage.state,
    misc.sandbox,
    fleet.report,
    misc.completion,
    policy.policy_group,
    watch.watch,
):
    main.add_command(command)
add_debug_everywhere(main)
add_epilogs(main)
