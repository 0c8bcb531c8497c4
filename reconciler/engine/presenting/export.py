"""``reconciler export``: live objects → stack YAML that passes ``validate``. Pure: no I/O.

- Names: a kind whose logical name is its name on the API (cores) keeps that name; the others get
  a slug of their natural key (``sensor-model-main``, ``hooks-example-com-signaloid``), made unique.
- Fields: only the kind's spec fields (by their YAML names), run through the spec model so values
  come out in the stack's canonical form; empty values and secrets are left out.
- References: an id that names an exported object becomes that object's stack name
  (a repository's ``core: cor_…`` → the core's name), so the stack keeps the link.
- An object that cannot be expressed (a name the stack format does not allow, two objects with one
  natural key, a spec the live values do not satisfy) is left out, and said so in ``skipped``; so
  is a whole kind that cannot be exported (``Kind.not_exportable``: sequences need their package).
- A kind whose natural key holds the logical name (package instances: workspace + handle) keeps the
  live name, as cores do; the others get a slug.

Planning the exported YAML against the same account shows only adoptions: each resource is found
by its natural key, and its fields are the live ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler.engine.secrets import with_env_references
from reconciler.errors import ConfigError, ConfigIssue
from reconciler.kinds import KINDS, KINDS_BY_NAME, Kind
from reconciler.values import LiveObject, LiveState

__all__ = ["Exported", "check_kinds", "default_kinds", "export_stack", "slug"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_EMPTY: tuple[Any, ...] = (None, "", [], {})


@dataclass
class Exported:
    text: str
    count: int = 0
    skipped: list[str] = field(default_factory=list)


def slug(parts: Iterable[str]) -> str:
    """A stack name from a natural key: the meaningful tail of URLs, lowercase, dashes."""
    words = []
    for part in parts:
        part = re.sub(r"^[a-z][a-z0-9+.-]*://", "", part.strip().lower())
        part = re.sub(r"\.git$", "", part.rstrip("/"))
        segments = [s for s in part.split("/") if s]
        # a git remote: the repository name; anything else (webhook URL, a name): all of it
        if len(segments) >= 3 and segments[0] in ("github.com", "gitlab.com", "bitbucket.org"):
            segments = segments[-1:]
        words.append("-".join(segments))
    text = re.sub(r"[^a-z0-9_]+", "-", "-".join(w for w in words if w)).strip("-._")
    return (text or "resource")[:90].rstrip("-._") or "resource"


def _spec_fields(kind: Kind) -> list[str]:
    return [f.alias or name for name, f in kind.spec.model_fields.items()]


def _names(kind: Kind, objects: list[LiveObject], skipped: list[str]) -> dict[str, str]:
    """remote id -> stack name, for the objects that can be exported."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    by_key: dict[tuple[str, ...], LiveObject] = {}
    for obj in sorted(objects, key=lambda o: (o.key, o.remote_id)):
        first = by_key.setdefault(tuple(obj.key), obj)
        if first is not obj:
            skipped.append(
                f"{kind.name} {obj.remote_id}: same {kind.key_doc} as {first.remote_id} "
                f"({' / '.join(obj.key)}); only one of them can be managed"
            )
            continue
        if kind.name_is_remote or _named_by_key(kind, obj):
            name = obj.name
            if not NAME_PATTERN.fullmatch(name):
                skipped.append(
                    f"{kind.name} {obj.remote_id}: its name {name!r} cannot be a stack name "
                    "(letters, digits, '_', '.', '-'; 100 at most)"
                )
                continue
            if name in taken:  # e.g. one instance handle in two workspaces: one stack name
                skipped.append(
                    f"{kind.name} {obj.remote_id}: named {name!r} by its natural key {kind.key_doc}, "
                    "a stack name another exported object already has; one stack holds one of them"
                )
                continue
        else:
            base = slug(obj.key)
            name, n = base, 2
            while name in taken:
                name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names[obj.remote_id] = name
    return names


def _named_by_key(kind: Kind, obj: LiveObject) -> bool:
    """Whether the logical name is part of the natural key (a package instance's handle): then the
    stack name must be the live one, or plan would not find the object by its key."""
    return kind.natural_key("a", obj.attrs) != kind.natural_key("b", obj.attrs) and bool(obj.name)


def _spec(
    kind: Kind, obj: LiveObject, names: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, Any] | None, str | None]:
    allowed = set(_spec_fields(kind)) - kind.sensitive_fields - kind.local_fields - kind.state_fields
    attrs = {k: v for k, v in obj.attrs.items() if k in allowed and v not in _EMPTY}
    for field_name, rule in kind.references.items():
        value = attrs.get(field_name)
        if not isinstance(value, str):
            continue
        target = names.get(rule.kind, {})
        if rule.resolves_to == "remote_id" and value in target:
            attrs[field_name] = target[value]
        elif rule.resolves_to == "remote_id" and not rule.is_literal(value):
            return None, f"its {field_name} {value!r} is not exported (add --kind {rule.kind})"
    try:
        model = kind.spec.model_validate(attrs)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, f"the live values are not a valid {kind.name} spec ({where}: {first['msg']})"
    dumped = model.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")
    return {k: v for k, v in dumped.items() if v not in _EMPTY}, None


def export_stack(
    live: LiveState,
    kinds: Iterable[str],
    *,
    header: Iterable[str] = (),
    secret_values: Mapping[str, str] | None = None,
) -> Exported:
    """``secret_values`` (value -> NAME, from the stack's ${env:NAME}): written back as references."""
    if secret_values:
        live = _with_env_references(live, secret_values)
    skipped: list[str] = []
    wanted = []
    for kind in (k for k in KINDS if k.name in set(kinds)):
        if kind.not_exportable is None:
            wanted.append(kind)
        elif live.objects.get(kind.name):
            skipped.append(f"{kind.name} ({len(live.objects[kind.name])} live): {kind.not_exportable}")
    names = {k.name: _names(k, live.objects.get(k.name, []), skipped) for k in wanted}
    doc: dict[str, Any] = {"version": 1}
    count = 0
    for kind in wanted:
        section: dict[str, Any] = {}
        by_id = live.by_id(kind.name)
        for remote_id, name in sorted(names[kind.name].items(), key=lambda item: item[1]):
            spec, problem = _spec(kind, by_id[remote_id], names)
            if problem:
                skipped.append(f"{kind.name} {remote_id}: {problem}")
                continue
            section[name] = spec
        if section:
            doc[kind.name] = section
            count += len(section)
    # No modeline to SCHEMA_ID: it is the schema's identifier, not an address that serves it.
    lines = [*(f"# {h}" for h in header), f"# {SCHEMA_HINT}"]
    for note in skipped:
        lines.append(f"# not exported: {note}")
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    return Exported("\n".join(lines) + "\n" + body, count, skipped)


SCHEMA_HINT = (
    "Editor checks and completion: `reconciler schema > stack.schema.json`, then a yaml-language-server "
    "modeline to that file (as in examples/)."
)


def _with_env_references(live: LiveState, secret_values: Mapping[str, str]) -> LiveState:
    """The live objects with the stack's secrets replaced by ``${env:NAME}``, keys and fields alike."""
    masked = LiveState(external_ids=live.external_ids)
    for kind, objects in live.objects.items():
        masked.objects[kind] = [
            o._replace(
                key=tuple(with_env_references(list(o.key), secret_values)),
                attrs=with_env_references(dict(o.attrs), secret_values),
                name=with_env_references(o.name, secret_values),
            )
            for o in objects
        ]
    return masked


def default_kinds(providers: Iterable[str]) -> list[str]:
    chosen = set(providers)
    return [k.name for k in KINDS if k.provider in chosen]


def check_kinds(requested: Iterable[str]) -> list[str]:
    unknown = sorted(set(requested) - set(KINDS_BY_NAME))
    if unknown:
        raise ConfigError(
            ConfigIssue(f"unknown kind {', '.join(unknown)}; kinds: {', '.join(k.name for k in KINDS)}")
        )
    return list(requested)
