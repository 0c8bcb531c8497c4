"""One state entry, as the engine uses it and as state stores it (``docs/state-format.md``).

An entry keeps three kinds of data apart: the engine's own bookkeeping (typed fields), the values
of a kind's ``state_fields`` as last applied, and what a provider handed back with the object
(``LiveObject.extra``). On disk this is state format 2; format 1 kept all three in one ``extra``
object, and is migrated on read (``migrate_v1``), so old state files and rows still load.

Parsing is strict: an entry of the wrong shape (a file edited by hand, or by someone hostile) is
a ValueError naming the field, never a value the engine trips over later.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
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


def parse_entry(data: Any, version: int, state_fields: Collection[str] | None) -> StateEntry:
    """An entry of state format ``version`` (1 or 2). ``state_fields``: the kind's, None for a kind
    this reconciler does not know (the caller refuses it, naming it)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"an entry must be an object, not {type(data).__name__}")
    kind, remote_id, key, digest_ = (
        data.get("kind"),
        data.get("remote_id"),
        data.get("key"),
        data.get("digest", ""),
    )
    if not isinstance(kind, str) or not kind:
        raise ValueError("'kind' must be a kind's name")
    if not isinstance(remote_id, str) or not remote_id:
        raise ValueError("'remote_id' must be a non-empty string")
    if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
        raise ValueError("'key' must be a list of strings")
    if not isinstance(digest_, str):
        raise ValueError("'digest' must be a string")
    known = frozenset(state_fields or ())
    body: Mapping[str, Any]
    if version == 1:
        extra = data.get("extra") or {}
        if not isinstance(extra, Mapping):
            raise ValueError("'extra' must be an object")
        body = migrate_v1(extra, known)
        prefix = "extra."
    else:
        unknown = sorted(str(k) for k in data if k not in _V2_KEYS)
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r} (format 2 has {', '.join(sorted(_V2_KEYS))})")
        body, prefix = data, ""
    check_names = version != 1 and state_fields is not None
    return StateEntry(kind, remote_id, tuple(key), digest_, **_typed_body(body, known, prefix, check_names))


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


def _typed_body(
    body: Mapping[str, Any], state_fields: frozenset[str], prefix: str, check_names: bool
) -> dict[str, Any]:
    """The keyword arguments of a StateEntry beside kind, remote id, key and digest, checked."""
    protected = body.get("prevent_destroy", False)
    if not isinstance(protected, bool):
        raise ValueError(f"'{prefix}prevent_destroy' must be true or false")
    deposed = body.get("deposed", [])
    if not isinstance(deposed, list) or not all(isinstance(i, str) and i for i in deposed):
        raise ValueError(f"'{prefix}deposed' must be a list of remote ids")
    applied = body.get("applied_fields", {})
    if not isinstance(applied, Mapping) or not all(isinstance(v, str) for v in applied.values()):
        raise ValueError(f"'{prefix}applied_fields' must be an object of field -> digest (strings)")
    kept = body.get("state_fields", {})
    if not isinstance(kept, Mapping):
        raise ValueError("'state_fields' must be an object")
    if check_names:
        for name in kept:
            if name not in state_fields:
                allowed = ", ".join(sorted(state_fields)) or "none"
                raise ValueError(
                    f"'state_fields.{name}' is not a state field of this kind (it has {allowed})"
                )
    provider = body.get("provider_data", {})
    if not isinstance(provider, Mapping):
        raise ValueError("'provider_data' must be an object")
    return {
        "prevent_destroy": protected,
        "deposed": tuple(deposed),
        "applied_fields": MappingProxyType(dict(applied)) if applied else _EMPTY,
        "state_fields": MappingProxyType(dict(kept)) if kept else _EMPTY,
        "provider_data": MappingProxyType(dict(provider)) if provider else _EMPTY,
    }
