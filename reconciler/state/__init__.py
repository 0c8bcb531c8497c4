"""State backends: the record of what this stack manages."""

from reconciler.state.base import StateEntry, StateSnapshot, StateStore, digest
from reconciler.state.local import LocalStateStore

__all__ = ["LocalStateStore", "StateEntry", "StateSnapshot", "StateStore", "digest"]
