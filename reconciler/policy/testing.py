"""``reconciler policy test PATH``: a policy library's tests, each a pass or a fail with its reason.

Two kinds of test (docs/policy.md):

- **cases as data**: each ``PATH/tests/*.yaml`` holds ``input`` (a plan document) or
  ``input_file`` (a saved plan, relative to the YAML file) and the exact ``deny`` and ``warn``
  message lists the policies must produce for it (``deny`` holds deny and violation messages);
- **OPA's ``test_*`` rules**, in any policy file (usually ``*_test.rego``). Each runs on its own:
  the engine loads the policies with every *other* test rule blanked out (lines kept, so
  positions stay true), because a test written ``with input as …`` can crash rego-cpp when it is
  merely compiled. A test that crashes the engine, loops or runs out of memory is a failed test
  with that reason; the engine process is started again for the next one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.config.expansion import check_events
from reconciler.errors import ConfigError, PolicyError
from reconciler.policy.evaluate import PolicyRun, located_parse_error
from reconciler.policy.isolate import EngineFailed, EngineProcess, Limits
from reconciler.policy.sources import PolicySet, load_policy_set, read_capped

__all__ = ["TestOutcome", "read_plan_file", "run_policy_tests"]

MAX_CASE_BYTES = 16 * 1024 * 1024
MAX_PLAN_BYTES = 64 * 1024 * 1024  # a saved plan of 10,000 creates is ~10 MB


@dataclass(frozen=True)
class TestOutcome:
    name: str  # tests/protected.yaml, or policy/main_test.rego:12 test_denies_delete
    passed: bool
    reason: str = ""


async def run_policy_tests(
    path: Path, *, namespace: str, limits: Limits, on_result: Callable[[TestOutcome], None] | None = None
) -> list[TestOutcome]:
    """Every test under ``path``; raises PolicyError when there is none (no tests is no pass)."""
    with_tests = load_policy_set([path], namespace=namespace, tests=True)
    policy = PolicySet(
        with_tests.given,
        tuple(f for f in with_tests.files if not _is_test_file(f.path)),
        namespace,
    )
    cases = sorted((path / "tests").glob("*.yaml")) + sorted((path / "tests").glob("*.yml"))
    rules = [(f, s) for f in with_tests.files for s in f.scanned.rules() if s.name.startswith("test_")]
    if not cases and not rules:
        raise PolicyError(f"{path}: no tests (no tests/*.yaml cases, no test_* rules)")
    outcomes: list[TestOutcome] = []

    def record(outcome: TestOutcome) -> None:
        outcomes.append(outcome)
        if on_result is not None:
            on_result(outcome)

    if cases:
        await _run_cases(policy, cases, limits, record)
    for file, rule in rules:
        record(await _run_rule(with_tests, file, rule, limits))
    return outcomes


def _is_test_file(path: Path) -> bool:
    return path.name.endswith("_test.rego")


async def _run_cases(
    policy: PolicySet, cases: list[Path], limits: Limits, record: Callable[[TestOutcome], None]
) -> None:
    run: PolicyRun | None = None
    try:
        for case in cases:
            name = f"{case.parent.name}/{case.name}"
            try:
                input_doc, deny, warn = _read_case(case)
            except PolicyError as exc:
                record(TestOutcome(name, False, str(exc)))
                continue
            if run is None:
                run = PolicyRun(policy, limits).start()
            try:
                report = await run.evaluate(input_doc)
            except EngineFailed as exc:
                record(TestOutcome(name, False, exc.reason))
                await run.close()
                run = None  # a fresh engine for the next case
                continue
            except PolicyError as exc:
                record(TestOutcome(name, False, str(exc)))
                continue
            got_deny = sorted(f.message for f in report.denials)
            got_warn = sorted(f.message for f in report.warnings)
            problems = _differences("deny", deny, got_deny) + _differences("warn", warn, got_warn)
            record(TestOutcome(name, not problems, "; ".join(problems)))
    finally:
        if run is not None:
            await run.close()


def _differences(kind: str, expected: list[str], got: list[str]) -> list[str]:
    missing = [m for m in expected if m not in got]
    extra = [m for m in got if m not in expected]
    out = [f"{kind} expected but not produced: {m!r}" for m in missing]
    out += [f"{kind} produced but not expected: {m!r}" for m in extra]
    return out


def _read_case(case: Path) -> tuple[dict[str, Any], list[str], list[str]]:
    shown = case.as_posix()
    raw = read_capped(case, MAX_CASE_BYTES, what="test case")
    try:
        text = raw.decode("utf-8")
        # An alias bomb or a document nested past 64 is refused before anything is built (the
        # stack loader's guard): the case's input would be expanded in full on its way to the engine.
        check_events(yaml.parse(text, Loader=yaml.SafeLoader), shown, MAX_CASE_BYTES // 2, 64)
        doc = yaml.safe_load(text)
    except ConfigError as exc:
        raise PolicyError(f"{shown}: {exc.issues[0].message}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        raise PolicyError(f"{where}: not a YAML test case ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"{shown}: a test case is a mapping with input (or input_file), deny and warn")
    unknown = set(doc) - {"input", "input_file", "deny", "warn", "description"}
    if unknown:
        raise PolicyError(f"{shown}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if ("input" in doc) == ("input_file" in doc):
        raise PolicyError(f"{shown}: give exactly one of input and input_file")
    input_doc = doc.get("input")
    if "input_file" in doc:
        input_doc = read_plan_file(case.parent / str(doc["input_file"]))
    if not isinstance(input_doc, dict):
        raise PolicyError(f"{shown}: input is a mapping (a plan document)")
    lists = []
    for key in ("deny", "warn"):
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
            raise PolicyError(f"{shown}: {key} is a list of messages (strings)")
        lists.append(sorted(value))
    return input_doc, lists[0], lists[1]


def read_plan_file(path: Path) -> dict[str, Any]:
    """A plan document from a file (``plan --out``, or ``plan --format json`` saved), capped."""
    try:
        doc = json.loads(read_capped(path, MAX_PLAN_BYTES, what="plan file").decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise PolicyError(f"{path}: not a plan file (not JSON: {str(exc)[:200]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("changes"), list):
        raise PolicyError(f"{path}: not a plan file (no changes list); make one with plan --out")
    return {k: v for k, v in doc.items() if k != "saved_plan"}


async def _run_rule(policy: PolicySet, file: Any, rule: Any, limits: Limits) -> TestOutcome:
    """One ``test_*`` rule, in a fresh engine process, with every other test rule blanked out."""
    name = f"{file.shown}:{rule.line} {rule.name}"
    modules = []
    for f in policy.files:
        lines = f.text.split("\n")
        for other in f.scanned.rules():
            if other.name.startswith("test_") and not (f is file and other is rule):
                for i in range(other.line - 1, other.end_line):
                    lines[i] = ""
        modules.append([f.shown, "\n".join(lines)])
    package = file.scanned.package
    try:
        async with await EngineProcess.start(limits) as engine:
            loaded = await engine.request({"op": "load", "modules": modules}, f"loading for {rule.name}")
            if loaded.get("error"):
                problem = loaded["error"]
                if "parse" in problem:
                    return TestOutcome(name, False, located_parse_error(str(problem["parse"]), policy))
                return TestOutcome(name, False, "; ".join(problem.get("compile", [])))
            query = f"data.{package}.{rule.name}"
            answer = await engine.request({"op": "query", "queries": [query]}, f"running {rule.name}")
    except EngineFailed as exc:
        return TestOutcome(name, False, exc.reason)
    errors = (answer.get("errors") or {}).get(query)
    if errors:
        return TestOutcome(name, False, "; ".join(str(e)[:500] for e in errors))
    value = (answer.get("results") or {}).get(query)
    if value is True:
        return TestOutcome(name, True)
    return TestOutcome(
        name, False, "undefined (a condition did not hold)" if value is None else f"is {value}"
    )
