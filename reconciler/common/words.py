"""Counts in words, right for 0, 1 and 2: ``plural(1, "stack")`` is "1 stack", ``plural(0, "stack")``
"0 stacks". The one place English plural forms are made, so no message says "1 changes"."""

from __future__ import annotations

__all__ = ["plural", "seconds", "singular"]


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and the noun (the last word of ``singular``) in the form the count takes."""
    if count == 1:
        return f"{count} {singular}"
    if plural_form is None:
        consonant_y = singular.endswith("y") and singular[-2:-1] not in tuple("aeiou")
        plural_form = singular[:-1] + "ies" if consonant_y else singular + "s"
    return f"{count} {plural_form}"


def seconds(value: float) -> str:
    """A duration as people read it: ``30s``, ``29.8s``, ``2.35s``, ``0.05s`` (never ``29.8131s``):
    three significant digits at most, none lost before the decimal point."""
    return f"{round(value, 1):g}s" if value >= 10 else f"{value:.3g}s"


def singular(noun: str) -> str:
    """The singular of a kind's plural name, in words: ``cores`` -> "core", ``repositories`` ->
    "repository", ``package_instances`` -> "package instance"."""
    words = noun.replace("_", " ")
    if words.endswith("ies"):
        return words[:-3] + "y"
    return words[:-1] if words.endswith("s") else words
