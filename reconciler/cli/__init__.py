"""The command line. Thin: parse flags, call the stages, pick a renderer, choose the exit code.

Commands live in ``plan_apply`` (plan, drift, apply, destroy), ``manage`` (import, export,
state) and ``misc`` (validate, schema, sandbox); what they share is in ``common``. Each
command imports the heavy parts of the tool only when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import click

from reconciler.cli import manage, misc, plan_apply
from reconciler.cli.common import collect_garbage_less

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks and (redacted) HTTP logs.")
@click.version_option(package_name="reconciler")
def main(debug: bool) -> None:
    """Declarative infrastructure for Signaloid, Scramjet and Steamship: plan, then apply."""
    collect_garbage_less()
    if debug:
        from reconciler.redact import enable_debug_logging

        enable_debug_logging()  # every logger, every record redacted (reconciler/redact.py)


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
):
    main.add_command(command)
