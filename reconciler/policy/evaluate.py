"""Judge a plan by its policies: the input document, the engine run, the results as a value.

The input document (docs/policy.md) is the plan JSON (docs/plan-format.md) as ``plan --format
json`` prints it, plus one key of our own, ``reconciler``: the stack's name, the command, and the
values each resource declares (secrets masked as the plan masks them). The rules are conftest's:
``deny``, ``violation`` and ``warn`` (optionally ``_suffix``ed) in the namespace (``main``), each
a set of messages: strings, or objects with a string ``msg`` and any metadata. Anything else
(a parse error, a rule that fails at run time, a result of another shape, an engine crash) is a
:class:`PolicyError`: a plan is never passed by a policy that did not run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import PolicyError
from reconciler.policy.isolate import EngineFailed, EngineProcess, Limits
from reconciler.policy.sources import PolicySet

__all__ = [
    "Finding",
    "PolicyReport",
    "PolicyRun",
    "declared_values",
    "input_document",
    "located_parse_error",
    "provider_settings",
]

SENSITIVE = "(sensitive)"
_OMITTED_KEYS = ("policy", "saved_plan")  # ours, or provenance: not part of what is judged


@dataclass(frozen=True)
class Finding:
    """One denial or warning: the rule that made it, its message, and the rest of its object."""

    rule: str
    message: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "msg": self.message, "metadata": dict(self.metadata)}


@dataclass(frozen=True)
class PolicyReport:
    """What the policies said of one plan. ``denied``: a mandatory policy denied it."""

    policies: tuple[str, ...]
    namespace: str
    enforcement: str
    denials: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()

    @property
    def denied(self) -> bool:
        return bool(self.denials)

    def to_json(self) -> dict[str, Any]:
        return {
            "policies": list(self.policies),
            "namespace": self.namespace,
            "enforcement": self.enforcement,
            "denied": self.denied,
            "denials": [f.to_json() for f in self.denials],
            "warnings": [f.to_json() for f in self.warnings],
        }


def input_document(
    plan_doc: Mapping[str, Any],
    *,
    stack: str,
    command: str,
    declared: Mapping[str, Any],
    providers: Mapping[str, Any],
) -> dict[str, Any]:
    """The plan JSON, with ``reconciler``: {stack, command, declared, providers} (docs/policy.md)."""
    doc = {k: v for k, v in plan_doc.items() if k not in _OMITTED_KEYS}
    doc["reconciler"] = {"stack": stack, "command": command, "declared": declared, "providers": providers}
    return doc


def declared_values(resources: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """``{kind: {name: {field: value}}}`` of what the stack writes (``Desired.attrs``): a field
    holding a secret (``Desired.sensitive``, the plan's own masking rule) is ``"(sensitive)"``,
    a reference to another resource is that resource's address."""
    out: dict[str, dict[str, Any]] = {}
    for r in resources:
        values = {k: SENSITIVE if k in r.sensitive else _plain(v) for k, v in r.attrs.items()}
        out.setdefault(r.kind, {})[r.name] = values
    return out


def provider_settings(providers: Any, secret_values: Iterable[str]) -> dict[str, Any]:
    """The stack's ``providers:`` settings without a secret: credentials are ``"(sensitive)"``,
    URLs lose their user, password and query (``safe_url``), and any value from ``${env:…}`` is
    masked wherever it appears (``scrub``)."""
    from reconciler.common.redact import safe_url, scrub

    secrets = [s for s in secret_values if s]

    def clean(key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(key, v) for v in value]
        if key in _CREDENTIALS:
            return None if value is None else SENSITIVE
        if isinstance(value, str):
            shown = safe_url(value) if "://" in value else value
            return scrub(shown, secrets).replace("***", SENSITIVE)
        return value

    dumped = providers.model_dump(mode="json") if hasattr(providers, "model_dump") else dict(providers)
    return {k: clean(k, v) for k, v in dumped.items()}


_CREDENTIALS = frozenset({"api_key", "token", "password", "secret"})


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    address = getattr(value, "address", None)  # a config.refs.Ref
    return address if isinstance(address, str) else str(value)


class PolicyRun:
    """The engine, started and loaded with a policy set, ready to judge plans.

    ``start()`` returns at once; the engine starts and compiles the policies while the caller
    plans (a plan waits on its APIs), and ``evaluate`` waits for it then. Use as ``async with``:
    the engine's process is stopped on the way out, whatever happened."""

    def __init__(self, policy: PolicySet, limits: Limits) -> None:
        self.policy = policy
        self.limits = limits
        self._ready: asyncio.Task[EngineProcess] | None = None
        self._one_at_a_time = asyncio.Lock()  # the engine answers requests in order, one by one

    def start(self) -> PolicyRun:
        self._ready = asyncio.ensure_future(self._load())
        return self

    async def _load(self) -> EngineProcess:
        engine = await self._engine_call(EngineProcess.start(self.limits))
        modules = [[f.shown, f.text] for f in self.policy.files]
        try:
            answer = await self._engine_call(engine.request({"op": "load", "modules": modules}, "loading"))
        except BaseException:
            await engine.close()
            raise
        problem = answer.get("error")
        if problem:
            await engine.close()
            if "parse" in problem:
                raise PolicyError(located_parse_error(str(problem["parse"]), self.policy))
            raise PolicyError(f"policy {self.policy.name}: " + "; ".join(problem.get("compile", [])))
        return engine

    async def _engine_call(self, call: Any) -> Any:
        try:
            return await call
        except EngineFailed as exc:
            raise EngineFailed(f"policy {self.policy.name}: {exc.reason}; the plan was not judged") from None

    async def evaluate(self, input_doc: Mapping[str, Any]) -> PolicyReport:
        async with self._one_at_a_time:
            return await self._evaluate(input_doc)

    async def _evaluate(self, input_doc: Mapping[str, Any]) -> PolicyReport:
        if self._ready is None:
            self.start()
        assert self._ready is not None
        engine = await self._ready
        rules = self.policy.decision_rules()
        # One query for every rule, so that the helpers they share are evaluated once (a query per
        # rule evaluated them again for each: bench/README.md). A rule's value is read through a
        # comprehension, [] when it is undefined, so that one undefined rule leaves the others.
        query = "; ".join(
            f"r{i} := [v | v := data.{self.policy.namespace}.{rule}]" for i, rule in enumerate(rules)
        )
        answer = await self._engine_call(
            engine.request(
                {"op": "query", "input": input_doc, "queries": [query], "bindings": True}, "evaluating"
            )
        )
        if answer.get("errors"):
            raise PolicyError(await self._failures(engine, rules))
        bound = (answer.get("results") or {}).get(query, {})
        values = {rule: bound[f"r{i}"][0] for i, rule in enumerate(rules) if bound.get(f"r{i}")}
        denials: list[Finding] = []
        warnings: list[Finding] = []
        for rule in rules:
            if rule not in values:
                continue  # undefined: the rule's conditions held for nothing
            found = self._findings(rule, values[rule])
            (warnings if rule.startswith("warn") else denials).extend(found)
        if self.policy.enforcement == "advisory":
            denials, warnings = [], [*denials, *warnings]
        return PolicyReport(
            self.policy.given, self.policy.namespace, self.policy.enforcement, tuple(denials), tuple(warnings)
        )

    async def _failures(self, engine: EngineProcess, rules: list[str]) -> str:
        """Which rules failed, and where they are: each queried alone (the input is still set)."""
        queries = {f"data.{self.policy.namespace}.{rule}": rule for rule in rules}
        answer = await self._engine_call(
            engine.request({"op": "query", "queries": list(queries)}, "evaluating")
        )
        failed = answer.get("errors") or {}
        if not failed:
            return f"policy {self.policy.name}: a rule of package {self.policy.namespace} failed at run time"
        return "; ".join(
            f"{' and '.join(self.policy.where(queries[q]))}: rule {queries[q]} failed: "
            + "; ".join(str(m)[:500] for m in messages)
            for q, messages in failed.items()
            if q in queries
        )

    def _findings(self, rule: str, value: Any) -> list[Finding]:
        """A rule's value as findings: a set of messages (strings, objects with ``msg``), or a boolean."""
        where = " and ".join(self.policy.where(rule))
        if value is True:
            return [Finding(rule, f"{rule} (the rule gives no message)")]
        if value is False:
            return []
        if not isinstance(value, list):
            raise PolicyError(
                f"{where}: rule {rule} is {_kind(value)}; expected a set of messages "
                f"(Rego v1: `{rule} contains msg if {{ … }}`)"
            )
        found = []
        for item in value:
            if isinstance(item, str):
                found.append(Finding(rule, item))
            elif isinstance(item, dict) and isinstance(item.get("msg"), str):
                found.append(Finding(rule, item["msg"], {k: v for k, v in item.items() if k != "msg"}))
            else:
                raise PolicyError(
                    f"{where}: rule {rule} produced {_kind(item)}; each message is a string or an "
                    "object with a string `msg`"
                )
        return sorted(found, key=lambda f: f.message)

    async def close(self) -> None:
        if self._ready is None:
            return
        if not self._ready.done():
            self._ready.cancel()
        try:
            engine = await self._ready
        except BaseException:  # its failure is reported by evaluate, if anyone asked
            return
        await engine.close()

    async def __aenter__(self) -> PolicyRun:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else f"the value {str(value)[:40]}"


_ERROR_AT = re.compile(r"\(error (\d+):")
_MESSAGE = re.compile(r"\(errormsg (\d+):")


def located_parse_error(detail: str, policy: PolicySet) -> str:
    """rego-cpp's parse error (``(error 8:name.rego|offset|length (errormsg 27:text) …)``) as
    ``file:line:column: message``; the engine's own words when they cannot be read so."""
    data = detail.encode()
    located = _ERROR_AT.search(detail)
    said = _MESSAGE.search(detail)
    message = _counted(data, said) if said else None
    if located:
        name = _counted(data, located)
        rest = detail[located.end() + len(name or "") :] if name else ""
        offset = re.match(r"\|(\d+)\|", rest)
        shown = next((f for f in policy.files if f.shown == name), None)
        if shown is not None and offset:
            before = shown.text.encode()[: int(offset.group(1))]
            line = before.count(b"\n") + 1
            column = len(before) - (before.rfind(b"\n") + 1) + 1
            return f"{shown.shown}:{line}:{column}: {message or 'cannot be parsed'}"
        if name:
            return f"{name}: {message or 'cannot be parsed'}"
    return f"policy {policy.name}: cannot be parsed: {message or detail.strip()[:500]}"


def _counted(data: bytes, match: re.Match[str]) -> str | None:
    """The length-prefixed text after ``match`` (``27:Invalid assignment operator``)."""
    size = int(match.group(1))
    start = len(match.string[: match.end()].encode())
    return data[start : start + size].decode("utf-8", "replace") if start + size <= len(data) else None
