"""``export``: stack YAML from live objects. The decisions are pure and live in
``engine/presenting/export.py``."""

from __future__ import annotations

from reconciler.app.session import Session
from reconciler.engine.presenting.export import Exported, check_kinds, default_kinds, export_stack
from reconciler.errors import ProviderError
from reconciler.providers import PROVIDER_NAMES

__all__ = ["export_live"]


async def export_live(session: Session, kinds: list[str]) -> tuple[Exported, list[str]]:
    """Stack YAML for the live objects of ``kinds`` (default: every kind of every provider that can
    be reached: configured, or the sandbox). Returns the export and notes on providers skipped."""
    notes: list[str] = []
    if kinds:
        wanted = check_kinds(kinds)
        session.provider_for(set(wanted))
    else:
        usable = []
        for name in PROVIDER_NAMES:
            provider_kinds = set(default_kinds([name]))
            try:
                session.provider_for(provider_kinds)
            except ProviderError as exc:
                notes.append(f"{name} skipped: {exc}")
                continue
            usable.append(name)
        wanted = default_kinds(usable)
    if "sequences" in wanted and not session.loaded.stack.providers.scramjet.hubs:
        notes.append(  # hubs are named in a stack, never found: say why no sequence was read
            "scramjet: no hub is configured (providers.scramjet.hubs in the stack given with -f), "
            "so no sequences were read"
        )
    live = await session.refresh(set(wanted))
    header = [f"exported by `reconciler export` from the live {', '.join(wanted) or 'nothing'}"]
    return export_stack(live, wanted, header=header, secret_values=session.loaded.secret_values), notes
