"""What Ctrl-C during an apply says: which changes were in flight, how many were done, and that
running the command again is safe.

It is safe because of what the apply already does: every finished change is in state at once,
and the journal names each change as it starts, so the next run reads what an interrupted create
made (and adopts it, never creating it twice) before it plans, and then converges to the YAML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.common.words import plural
from reconciler.engine.deciding.changes import Change
from reconciler.engine.executing.apply import ActionResult

__all__ = ["InFlight"]

EventHook = Callable[[Change, str, ActionResult | None], None]


@dataclass
class InFlight:
    """Follows an apply's events (wrap the progress hook with :meth:`follow`)."""

    command: str = "apply"
    applying: bool = False
    running: dict[str, str] = field(default_factory=dict)  # address -> action, started, not ended
    finished: int = 0

    def follow(self, inner: EventHook) -> EventHook:
        def on_event(change: Change, phase: str, result: ActionResult | None) -> None:
            self.applying = True
            if phase == "start":
                self.running[change.address] = change.action.value
            else:
                self.running.pop(change.address, None)
                self.finished += 1
            inner(change, phase, result)

        return on_event

    def started(self) -> None:
        self.applying = True

    def lines(self) -> list[str]:
        """The message for an interrupt, its first line starting ``interrupted``."""
        again = f"`reconciler {self.command}`"
        if not self.applying:
            return ["interrupted before any change was made: nothing was changed."]
        lines = [
            f"interrupted during {self.command}: {plural(self.finished, 'change')} finished "
            "(recorded in state)."
        ]
        if self.running:
            lines.append("In flight when interrupted (whether the API finished them is read back next run):")
            lines += [f"  {address}: {action}" for address, action in sorted(self.running.items())]
        else:
            lines.append("No change was in flight.")
        lines.append(
            f"Running {again} again is safe: it reads back what was in flight (an object a create "
            "made is adopted, never made twice), then does the rest and converges to the configuration."
        )
        return lines
