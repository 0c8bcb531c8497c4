"""--parallelism: an upper bound on actions at once, the same default in the CLI and the engine."""

from __future__ import annotations

from reconciler.cli.plan_apply import apply_cmd, destroy
from reconciler.engine.executing.apply import DEFAULT_PARALLELISM


def test_the_cli_default_is_the_engines() -> None:
    for command in (apply_cmd, destroy):
        option = next(p for p in command.params if p.name == "parallelism")
        assert option.default == DEFAULT_PARALLELISM == 64
