"""Scramjet hub payloads → LiveObjects, request bodies, instance matching, log picking. Pure, no I/O.

Two shapes are read (ARCHITECTURE.md, "The three APIs"): the documented hub lists instances with
``appConfig``, ``sequenceArgs`` (or ``args``) and ``status``; a real 0.18.7 hub lists only ``{id,
sequence}``, and ``GET /instance/:id`` adds ``appConfig?`` and ``sequenceArgs?`` (absent means none).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ProviderError
from reconciler.kinds.sequences import KIND as SEQUENCES
from reconciler.kinds.sequences import canonical_instances, instance_key
from reconciler.providers.base import fingerprint
from reconciler.values import LiveObject

__all__ = [
    "LiveInstance",
    "crash_report",
    "match_instances",
    "needs_detail",
    "parse_instance",
    "parse_sequence",
    "remote_id",
    "split_id",
    "start_body",
    "stop_body",
]

# Instances in these states are on their way out: not counted as running.
ENDED = frozenset({"stopping", "killing", "finished", "ended", "errored", "completed", "killed", "stopped"})


@dataclass(frozen=True, slots=True)
class LiveInstance:
    id: str
    sequence: str
    args: list[Any]
    app_config: dict[str, Any]

    @property
    def spec(self) -> dict[str, Any]:
        return {"args": self.args, "app_config": self.app_config}


def remote_id(hub: str, sequence_id: str) -> str:
    """Sequence ids are unique per hub only; ours carry the hub: ``<hub>/<sequence id>``."""
    return f"{hub}/{sequence_id}"


def split_id(value: str) -> tuple[str, str]:
    hub, sep, sequence_id = value.partition("/")
    if not sep or not hub or not sequence_id:
        raise ProviderError(f"scramjet: {value!r} is not a sequence id of the form <hub>/<sequence id>")
    return hub, sequence_id


def needs_detail(payload: Mapping[str, Any]) -> bool:
    """Whether a listed instance lacks its args or appConfig (0.18.7 lists only id and sequence)."""
    return "appConfig" not in payload or ("sequenceArgs" not in payload and "args" not in payload)


def parse_instance(payload: Any) -> LiveInstance | None:
    """A running instance, or None for one that is ending (or not an instance at all)."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("id"), str):
        return None
    status = payload.get("status")
    if isinstance(status, str) and status.lower() in ENDED:
        return None
    args = payload.get("sequenceArgs", payload.get("args"))
    app_config = payload.get("appConfig")
    return LiveInstance(
        id=payload["id"],
        sequence=str(payload.get("sequence", "")),
        args=list(args) if isinstance(args, list) else [],
        app_config=dict(app_config) if isinstance(app_config, Mapping) else {},
    )


def parse_sequence(
    hub: str, payload: Any, instances: Iterable[LiveInstance], replace_fields: Mapping[str, str]
) -> LiveObject:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("id"), str):
        raise ProviderError(f"scramjet hub {hub} listed a sequence without an id: {str(payload)[:200]!r}")
    config: Mapping[str, Any] = payload["config"] if isinstance(payload.get("config"), Mapping) else {}
    name = str(config.get("name", ""))
    version = config.get("version")
    running = sorted((i for i in instances if i.sequence == payload["id"]), key=lambda i: i.id)
    attrs = {
        "hub": hub,
        "package_version": "" if version is None else str(version),
        "instances": canonical_instances([i.spec for i in running]),
    }
    stable = {"id": payload["id"], "config": config, "instances": [[i.id, i.spec] for i in running]}
    return SEQUENCES.live(
        remote_id(hub, payload["id"]), attrs, name, fingerprint(stable), replace_fields=dict(replace_fields)
    )


def start_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"appConfig": dict(spec.get("app_config") or {}), "args": list(spec.get("args") or [])}


def stop_body(timeout_ms: int) -> list[Any]:
    """0.18.7 takes only this array form (an object is a 500); the documented hub accepts it too."""
    return [4001, {"timeout": timeout_ms, "canCallKeepalive": False}]


def match_instances(
    desired: Iterable[Mapping[str, Any]], running: Iterable[LiveInstance]
) -> tuple[list[dict[str, Any]], list[LiveInstance]]:
    """Match as a multiset of (args, appConfig): which specs to start, which instances to stop."""
    wanted = Counter(instance_key(spec) for spec in canonical_instances(list(desired)))
    specs = {instance_key(spec): spec for spec in canonical_instances(list(desired))}
    to_stop: list[LiveInstance] = []
    for inst in sorted(running, key=lambda i: i.id):
        key = instance_key(inst.spec)
        if wanted[key] > 0:
            wanted[key] -= 1
        else:
            to_stop.append(inst)
    to_start = [specs[key] for key in sorted(wanted) for _ in range(wanted[key])]
    return to_start, to_stop


def crash_report(log_text: str, instance_id: str, limit: int = 8) -> list[str]:
    """What a hub logged about an instance that ended at load: its own lines (less request logs)
    and the errors logged after its first mention, as short readable lines."""
    picked: list[str] = []
    seen_instance = False
    for raw in log_text.splitlines():
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            if instance_id in raw:
                picked.append(raw.strip()[:300])
            continue
        if not isinstance(line, dict) or line.get("msg") == "Request":
            continue
        mentions = instance_id in raw
        seen_instance = seen_instance or mentions
        level = str(line.get("level", "")).upper()
        serious = level in ("ERROR", "FATAL")
        if (serious and seen_instance) or (mentions and level == "WARN"):
            parts = [level, str(line.get("msg", ""))]
            for key in ("data", "error"):
                if line.get(key) not in (None, [], ""):
                    parts.append(json.dumps(line[key], default=str)[:200])
            picked.append(" ".join(parts))
    return picked[-limit:]
