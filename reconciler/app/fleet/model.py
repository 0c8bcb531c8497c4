"""The fleet report: one versioned JSON document (``docs/fleet-report.md``) that every renderer reads.

Per stack a status, in this order of precedence: ``errored`` (the check itself failed: bad YAML,
API down), ``drifted`` (a live object changed outside reconciler: a change or a field with cause
``drift``), ``pending`` (the YAML differs from live state, but nothing drifted: config not yet
applied), ``in_sync``. The fleet's exit code: 1 if any stack errored, else 2 if any drifted or is
pending, else 0 — "broken" always wins over "drift", so a CI job can tell them apart.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reconciler.common.escape import md_text, shown
from reconciler.common.words import plural

if TYPE_CHECKING:
    from reconciler.app.policy_gate import PolicyChoice

__all__ = [
    "FORMAT_VERSION",
    "STATUSES",
    "by_severity",
    "checked_with",
    "errored_stack",
    "exit_code",
    "fleet_report",
    "next_command",
    "notification",
    "shard_label",
    "stack_result",
    "stack_totals",
    "stamp",
    "summarise",
]

FORMAT_VERSION = "1"
REPORT = "reconciler-fleet-drift"
STATUSES = ("errored", "drifted", "pending", "in_sync")  # precedence, worst first


def stamp(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_status(change: Mapping[str, Any]) -> str:
    """``drifted`` when any field (or the change itself) has cause ``drift``, even beside a config edit;
    a change the plan does not mark ``pending`` is in sync."""
    if not change["pending"]:
        return "in_sync"
    return "drifted" if "drift" in change["causes"] else "pending"


def _change_entry(change: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "address": change["address"],
        "kind": change["kind"],
        "status": _resource_status(change),
        "action": change["action"],
        "cause": change["cause"],
        "causes": list(change["causes"]),
        "reason": change.get("reason", ""),
        "remote_id": change.get("remote_id"),
        "fields": [
            {
                "path": f["path"],
                "cause": f["cause"],
                "before": f.get("before"),
                "after": f.get("after"),
                "sensitive": bool(f.get("sensitive")),
                "forces_replacement": bool(f.get("forces_replacement")),
            }
            for f in change["fields"]
        ],
    }


def stack_result(
    name: str,
    plan_doc: Mapping[str, Any],
    *,
    checked_at: str,
    duration_s: float,
    http: Mapping[str, Mapping[str, int]],
    policy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One stack's entry, from its plan JSON (only pending changes are kept, with their fields).
    ``policy``: the policies' verdict on the plan (``Verdict.to_json()``), None without policies."""
    kinds: dict[str, Counter[str]] = {}
    changes = []
    for change in plan_doc.get("changes", ()):
        status = _resource_status(change)
        kinds.setdefault(change["kind"], Counter())[status] += 1
        if status != "in_sync":
            changes.append(_change_entry(change))
    statuses = {c["status"] for c in changes}
    status = "drifted" if "drifted" in statuses else "pending" if statuses else "in_sync"
    return {
        "name": shown(name),
        "status": status,
        "error": None,
        "checked_at": checked_at,
        "duration_s": round(duration_s, 3),
        "kinds": {k: _counts(c) for k, c in sorted(kinds.items())},
        "changes": changes,
        "unmanaged": len(plan_doc.get("unmanaged", ())),
        "warnings": list(plan_doc.get("warnings", ())) + list(plan_doc.get("errors", ())),
        "http": {api: dict(figures) for api, figures in sorted(http.items())},
        "policy": dict(policy) if policy is not None else None,
    }


def errored_stack(
    name: str, message: str, *, checked_at: str, duration_s: float, http: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    return {
        "name": shown(name),
        "status": "errored",
        "error": shown(message, lines=True),
        "checked_at": checked_at,
        "duration_s": round(duration_s, 3),
        "kinds": {},
        "changes": [],
        "unmanaged": 0,
        "warnings": [],
        "http": {api: dict(figures) for api, figures in sorted(http.items())},
        "policy": None,
    }


def _counts(counter: Mapping[str, int]) -> dict[str, int]:
    return {s: int(counter.get(s, 0)) for s in ("drifted", "pending", "in_sync")}


def summarise(stacks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Stacks per status, resources per status (fleet-wide), API calls per API."""
    stacks = list(stacks)
    by_status = Counter(s["status"] for s in stacks)
    resources: Counter[str] = Counter()
    http: dict[str, Counter[str]] = {}
    for stack in stacks:
        for counts in stack["kinds"].values():
            resources.update(counts)
        for api, figures in stack.get("http", {}).items():
            http.setdefault(api, Counter()).update(figures)
    return {
        "stacks": len(stacks),
        **{status: by_status.get(status, 0) for status in STATUSES},
        "policy_denied": sum(policy_denied(s) for s in stacks),
        "resources": _counts(resources),
        "http": {api: dict(c) for api, c in sorted(http.items())},
    }


def _policy(stack: Mapping[str, Any]) -> Mapping[str, Any]:
    """The stack's policy verdict, or {} (none, or not the shape a report holds: a merged report
    is a file from elsewhere, read as it comes)."""
    policy = stack.get("policy")
    return policy if isinstance(policy, dict) else {}


def policy_denied(stack: Mapping[str, Any]) -> bool:
    """A policy denied the stack's pending changes (applying them would be refused)."""
    return _policy(stack).get("denied") is True


def policy_findings(stack: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The stack's policy denials and warnings, as ("deny" | "warn", {"rule": str, "msg": str})."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    results = _policy(stack).get("results")
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, dict):
            continue
        for kind, key in (("deny", "denials"), ("warn", "warnings")):
            items = result.get(key)
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict):
                    found.append((kind, {"rule": str(item.get("rule", "")), "msg": str(item.get("msg", ""))}))
    return found


def exit_code(summary: Mapping[str, Any], *, incomplete: bool = False) -> int:
    """1 beats 2 beats 0: a stack errored, a shard missing, or a policy denial; then any change."""
    if summary["errored"] or summary.get("policy_denied") or incomplete:
        return 1
    return 2 if summary["drifted"] or summary["pending"] else 0


def fleet_report(
    stacks: Iterable[Mapping[str, Any]],
    *,
    generated_at: str,
    duration_s: float,
    shards: list[dict[str, int]] | None = None,
    missing_shards: list[int] | None = None,
    how: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole document. ``shards``: which shards of how many it covers (absent: the whole fleet);
    ``how``: how the stacks were checked (``checked_with``; None when not known: a merge of older
    reports)."""
    ordered = sorted(stacks, key=lambda s: s["name"])
    summary = summarise(ordered)
    missing = sorted(missing_shards or [])
    return {
        "format_version": FORMAT_VERSION,
        "report": REPORT,
        "generated_at": generated_at,
        "duration_s": round(duration_s, 3),
        "shards": shards or [],
        "missing_shards": missing,
        "exit_code": exit_code(summary, incomplete=bool(missing)),
        "summary": summary,
        "stacks": ordered,
        **({"checked_with": dict(how)} if how is not None else {}),
    }


def stack_totals(stack: Mapping[str, Any]) -> dict[str, int]:
    """A stack's resources per status, all kinds together."""
    totals: Counter[str] = Counter()
    for counts in stack["kinds"].values():
        totals.update(counts)
    return _counts(totals)


def shard_label(report: Mapping[str, Any]) -> str:
    """`` (shards 0, 2 of 4)`` for a sharded report; empty for a whole fleet."""
    shards = report.get("shards") or []
    if not shards:
        return ""
    indexes = ", ".join(str(s["index"]) for s in shards)
    return f" (shard{'s' if len(shards) > 1 else ''} {indexes} of {shards[0]['count']})"


def notification(report: Mapping[str, Any], limit: int = 50) -> dict[str, Any]:
    """The one message ``--notify`` sends per fleet run: the summary, a ``text`` line for chat
    webhooks (Markdown: names escaped, ``reconciler.common.escape.md_text``), and the stacks that
    need attention (name, status, counts, error; no field values)."""
    summary = report["summary"]
    attention = [s for s in report["stacks"] if s["status"] != "in_sync" or policy_denied(s)]
    counts = ", ".join(f"{summary[s]} {s.replace('_', ' ')}" for s in STATUSES if summary[s])
    names = ", ".join(md_text(s["name"]) for s in attention[:10]) + (
        f" and {len(attention) - 10} more" if len(attention) > 10 else ""
    )
    text = f"reconciler fleet drift: {plural(summary['stacks'], 'stack')}{shard_label(report)}: {counts}"
    if report.get("missing_shards"):
        missing = report["missing_shards"]
        text += f"; no report from shard{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}"
    return {
        "format_version": FORMAT_VERSION,
        "report": REPORT + "-summary",
        "generated_at": report["generated_at"],
        "exit_code": report["exit_code"],
        "text": text + (f" ({names})" if attention else ""),
        "summary": summary,
        "shards": report.get("shards", []),
        "missing_shards": report.get("missing_shards", []),
        "stacks": [
            {
                "name": s["name"],
                "status": s["status"],
                "error": s["error"],
                "policy_denied": policy_denied(s),
                **stack_totals(s),
            }
            for s in attention[:limit]
        ],
        "stacks_not_listed": max(0, len(attention) - limit),
    }


def by_severity(stacks: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Problems first: errored, drifted, pending, in sync; by name within each."""
    return sorted(stacks, key=lambda s: (STATUSES.index(s["status"]), s["name"]))


# What to run next, per status: see the error or the drift (plan shows both), or apply the YAML.
_NEXT = {"errored": "plan", "drifted": "plan", "pending": "apply"}


# The environment a stack's state is chosen by when its YAML does not say (state/select.py): names
# only, never a value that may be a secret (the DSN). The next command repeats them.
STATE_ENVIRONMENT = ("RECONCILER_STATE_BACKEND", "RECONCILER_STATE_STACK")


def checked_with(
    sandbox: bool, policy: PolicyChoice | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """How the stacks were checked, as far as the command to run next on one of them must repeat
    it (the report's ``checked_with``): the emulators (``--sandbox``), the command line's policies
    (``--policy``, ``--policy-namespace``; paths as given, from the same directory), and the
    environment that chose the state backend (``STATE_ENVIRONMENT``; a sandbox keeps its own)."""
    namespace = policy.namespace if policy is not None else None
    chosen = {} if sandbox else {k: v for k in STATE_ENVIRONMENT if (v := (environ or {}).get(k, "").strip())}
    return {
        "sandbox": sandbox,
        "policy": [str(path) for path in policy.paths] if policy is not None else [],
        "policy_namespace": namespace if namespace and namespace != "main" else None,
        "environment": chosen,
    }


def next_command(stack: Mapping[str, Any], how: Mapping[str, Any] | None = None) -> str | None:
    """``reconciler plan --sandbox -f 'stacks/team a'``: the command that takes this stack forward
    (None when in sync), checked as the report's ``how`` (``checked_with``) says, the state's
    environment first (``RECONCILER_STATE_BACKEND=postgres reconciler plan -f …``). The stack's name
    is its folder as ``drift --stacks`` was given it, so it works from the same directory. A report
    without ``checked_with`` (an older one) gets the bare command."""
    verb = _NEXT.get(stack["status"])
    if verb is None:
        return None
    how = how or {}
    environment = how.get("environment") or {}
    # NAME=value, the value quoted on its own (a quoted NAME=value would not be an assignment);
    # only the names we know, whatever a report from elsewhere holds.
    assign = [f"{k}={shlex.quote(str(environment[k]))}" for k in STATE_ENVIRONMENT if environment.get(k)]
    words = ["reconciler", verb]
    if how.get("sandbox"):
        words.append("--sandbox")
    words += ["-f", stack["name"]]
    for path in how.get("policy") or ():
        words += ["--policy", str(path)]
    if how.get("policy_namespace"):
        words += ["--policy-namespace", str(how["policy_namespace"])]
    return " ".join([*assign, shlex.join(words)])
