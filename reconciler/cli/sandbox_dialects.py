"""``sandbox serve`` options that choose which dialect each emulator speaks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from reconciler.sandbox.scramjet_profiles import DOCUMENTED, PROFILES

__all__ = ["CASINGS", "dialect_options", "dialects"]

CASINGS = ("pascal", "camel")


def dialect_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--signaloid-casing",
        type=click.Choice(CASINGS),
        default="pascal",
        show_default=True,
        help="Field names of Signaloid objects: the reference's PascalCase or the SDK types' camelCase.",
    )(command)
    return click.option(
        "--scramjet-profile",
        type=click.Choice(list(PROFILES)),
        default=DOCUMENTED,
        show_default=True,
        help="Which Scramjet hub to behave like: the documented API or the real Transform Hub 0.18.7.",
    )(command)


def dialects(scramjet_profile: str, signaloid_casing: str) -> dict[str, dict[str, Any]]:
    """Options per emulator for ``sandbox.server.build_app``."""
    return {"scramjet": {"profile": scramjet_profile}, "signaloid": {"casing": signaloid_casing}}
