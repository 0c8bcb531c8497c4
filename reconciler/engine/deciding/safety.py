"""The guard against the classic accident: an empty or truncated YAML that deletes the account.

A plan that would delete more than ``max_fraction`` of the managed resources, and at least
``min_count`` of them, is stopped unless the user passes ``--allow-mass-delete``. A replace counts
as a delete: its old object goes, with whatever data it holds (an anchor edit once replaced every
package instance of a stack without a word). ``destroy`` is exempt: deleting everything is what it
is for, and it asks for confirmation.
"""

from __future__ import annotations

from reconciler.engine.deciding.changes import Action, Plan

__all__ = ["mass_delete_problem"]

DEFAULT_MAX_FRACTION = 0.5
DEFAULT_MIN_COUNT = 5


def mass_delete_problem(
    plan: Plan,
    managed: int,
    *,
    max_fraction: float = DEFAULT_MAX_FRACTION,
    min_count: int = DEFAULT_MIN_COUNT,
) -> str | None:
    """Why this plan must not run without an explicit flag, or None when it may."""
    deletes = [
        c
        for c in plan.changes
        if c.action in (Action.DELETE, Action.REPLACE) and not c.deposed_of and not c.refused
    ]
    if managed == 0 or len(deletes) < min_count or len(deletes) <= max_fraction * managed:
        return None
    share = len(deletes) / managed
    replaced = sum(1 for c in deletes if c.action is Action.REPLACE)
    how = f", {replaced} of them by a replace, which deletes the old object and its data" if replaced else ""
    names = ", ".join(c.address for c in deletes[:5]) + (" …" if len(deletes) > 5 else "")
    return (
        f"this plan would delete {len(deletes)} of the {managed} managed resources ({share:.0%}{how}; "
        f"the limit is {max_fraction:.0%} once {min_count} or more): {names}. If the YAML is complete and "
        "this is intended, run again with --allow-mass-delete"
    )
