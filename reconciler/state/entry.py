"""One state entry, as the engine uses it and as state stores it (``docs/state-format.md``).

An entry keeps three kinds of data apart: the engine's own bookkeeping (typed fields), the values
of a kind's ``state_fields`` as last applied, and what a provider handed back with the object
(``LiveObject.extra``). On disk this is state format 2; format 1 kept all three in one ``extra``
object, and is migrated on read (``migrate_v1``), so old state files and rows still load.

Parsing is strict: an entry of the wrong shape (a file edited by hand, or by someone hostile) is
a ValueError naming the field, never a value the engine trips over later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["BODY_FIELDS", "FORMAT_VERSION", "READABLE_VERSIONS", "StateEntry", "migrate_v1", "parse_entry"]

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


# Format 1's ``extra`` keys that were the engine's, not a kind's or a provider's.
_V1_ENGINE_KEYS = frozenset({"prevent_destroy", "deposed", "applied_fields"})
# Format 2's fields beside kind, remote id, key and digest (a PostgreSQL row's ``extra``), in order.
BODY_FIELDS = ("prevent_destroy", "deposed", "applied_fields", "state_fields", "provider_data")
_V2_KEYS = frozenset({"kind", "remote_id", "key", "digest", *BODY_FIELDS})
_STRINGS = frozenset({str})
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class StateEntry:
    """What state records for one address.

    ``digest``: of the desired attrs as last applied ("" when never applied by this stack, e.g. an
    object adopted after an interrupted apply). ``prevent_destroy``: the resource was protected when
    last applied, so it stays protected after it leaves the YAML. ``deposed``: old objects a
    create_before_destroy replace has not deleted yet (still ours, deleted by the next plan).
    ``applied_fields``: field -> short digest of its value as applied (no digest of a secret), to
    tell drift from a YAML edit. ``state_fields``: the kind's ``Kind.state_fields`` values as
    applied (what the API cannot report). ``provider_data``: what the provider returned beside the
    fields (e.g. a Steamship instance's workspace id), as recorded; the engine does not read it.
    """

    kind: str
    remote_id: str
    key: tuple[str, ...]
    digest: str
    _: KW_ONLY
    prevent_destroy: bool = False
    deposed: tuple[str, ...] = ()
    applied_fields: Mapping[str, str] = field(default_factory=_empty)
    state_fields: Mapping[str, Any] = field(default_factory=_empty)
    provider_data: Mapping[str, Any] = field(default_factory=_empty)

    def owned_ids(self) -> tuple[str, ...]:
        """Every remote id this entry makes ours: the object and the deposed ones."""
        return (self.remote_id, *self.deposed) if self.deposed else (self.remote_id,)

    def body(self) -> dict[str, Any]:
        """Everything but kind, remote id, key and digest, in format 2 (a PostgreSQL row's ``extra``)."""
        return {
            "prevent_destroy": self.prevent_destroy,
            "deposed": list(self.deposed),
            "applied_fields": dict(self.applied_fields),
            "state_fields": dict(self.state_fields),
            "provider_data": dict(self.provider_data),
        }

    def to_json(self) -> dict[str, Any]:
        """The entry in state format 2."""
        return {"kind": self.kind, "remote_id": self.remote_id, "key": list(self.key), "digest": self.digest,
                **self.body()}  # fmt: skip


def parse_entry(data: Any, version: int, state_fields: frozenset[str] | None) -> StateEntry:
    """An entry of state format ``version`` (1 or 2). ``state_fields``: the kind's, None for a kind
    this reconciler does not know (the caller refuses it, naming it).

    Read once per entry of a state that may hold 100,000, so the checks run in C where they can:
    decoded JSON holds ``dict``s, which is what is checked (``isinstance`` against the ``Mapping``
    ABC costs several times more), and "all strings" is ``_STRINGS.issuperset(map(type, …))``."""
    if type(data) is not dict:
        raise ValueError(f"an entry must be an object, not {type(data).__name__}")
    kind, remote_id, key, digest_ = (
        data.get("kind"),
        data.get("remote_id"),
        data.get("key"),
        data.get("digest", ""),
    )
    if type(kind) is not str or not kind:
        raise ValueError("'kind' must be a kind's name")
    if type(remote_id) is not str or not remote_id:
        raise ValueError("'remote_id' must be a non-empty string")
    if type(key) is not list or not _STRINGS.issuperset(map(type, key)):
        raise ValueError("'key' must be a list of strings")
    if type(digest_) is not str:
        raise ValueError("'digest' must be a string")
    known = _NONE if state_fields is None else state_fields
    if version == 1:
        extra = data.get("extra") or {}
        if type(extra) is not dict:
            raise ValueError("'extra' must be an object")
        body, prefix = migrate_v1(extra, known), "extra."
    elif _V2_KEYS.issuperset(data):
        body, prefix = data, ""
    else:
        unknown = min(map(str, data.keys() - _V2_KEYS))
        raise ValueError(f"unknown field {unknown!r} (format 2 has {', '.join(sorted(_V2_KEYS))})")
    protected = body.get("prevent_destroy", False)
    if type(protected) is not bool:
        raise ValueError(f"'{prefix}prevent_destroy' must be true or false")
    deposed = body.get("deposed", [])
    if type(deposed) is not list or (
        deposed and (not _STRINGS.issuperset(map(type, deposed)) or "" in deposed)
    ):
        raise ValueError(f"'{prefix}deposed' must be a list of remote ids")
    applied = body.get("applied_fields", {})
    if type(applied) is not dict or (applied and not _STRINGS.issuperset(map(type, applied.values()))):
        raise ValueError(f"'{prefix}applied_fields' must be an object of field -> digest (strings)")
    kept = body.get("state_fields", {})
    if type(kept) is not dict:
        raise ValueError("'state_fields' must be an object")
    if kept and version != 1 and state_fields is not None and not known.issuperset(kept):
        name = min(map(str, kept.keys() - known))
        allowed = ", ".join(sorted(known)) or "none"
        raise ValueError(f"'state_fields.{name}' is not a state field of this kind (it has {allowed})")
    provider = body.get("provider_data", {})
    if type(provider) is not dict:
        raise ValueError("'provider_data' must be an object")
    # The decoded document's own dicts: nothing else holds them, so they are wrapped, not copied.
    return StateEntry(
        kind,
        remote_id,
        tuple(key),
        digest_,
        prevent_destroy=protected,
        deposed=tuple(deposed),
        applied_fields=MappingProxyType(applied) if applied else _EMPTY,
        state_fields=MappingProxyType(kept) if kept else _EMPTY,
        provider_data=MappingProxyType(provider) if provider else _EMPTY,
    )


def migrate_v1(extra: Mapping[str, Any], state_fields: frozenset[str]) -> dict[str, Any]:
    """Format 1's one ``extra`` object as format 2's separate places: the engine's keys stay as
    they were, a kind's state fields move to ``state_fields``, anything else was the provider's."""
    return {
        **{k: extra[k] for k in _V1_ENGINE_KEYS if k in extra},
        "state_fields": {k: v for k, v in extra.items() if k in state_fields},
        "provider_data": {
            k: v for k, v in extra.items() if k not in _V1_ENGINE_KEYS and k not in state_fields
        },
    }
