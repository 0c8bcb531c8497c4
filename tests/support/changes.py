"""Plan values for tests that need a hand-made :class:`Change` rather than a planned one."""

from __future__ import annotations

from typing import Any

from reconciler.engine.deciding.changes import Action, Cause, Change, Reason

# The reason a planner gives each action when nothing special applies.
_USUAL = {
    Action.CREATE: (Cause.NEW, Reason.NOT_FOUND),
    Action.UPDATE: (Cause.CONFIG, Reason.CHANGED),
    Action.REPLACE: (Cause.CONFIG, Reason.CANNOT_UPDATE),
    Action.DELETE: (Cause.REMOVED, Reason.NOT_DECLARED),
    Action.ADOPT: (None, Reason.ADOPTED),
    Action.MOVE: (None, Reason.MOVED),
    Action.STATE_ONLY: (Cause.CONFIG, Reason.STATE_ONLY),
    Action.NO_OP: (None, Reason.UP_TO_DATE),
}


def make_change(address: str, action: Action, reason: str = "test", **fields: Any) -> Change:
    """A change of ``address`` (``kind.name``, or ``kind.name#deposed-…``), by keyword like the
    planner builds them; ``cause`` and ``reason_code`` default to the action's usual ones."""
    kind, name = address.split(".", 1)
    cause, code = _USUAL[action]
    fields.setdefault("cause", cause)
    fields.setdefault("reason_code", code)
    return Change(
        address=address, kind=kind, name=name.split("#", 1)[0], action=action, reason=reason, **fields
    )
