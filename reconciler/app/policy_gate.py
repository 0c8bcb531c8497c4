"""Policy gates for plan, apply, drift and fleet drift: which policies a run has, and their verdict.

A run's policies are the ``--policy`` paths (mandatory, in ``--policy-namespace``) and the
stack's own ``policy:`` block (its paths relative to the stack's folder, its enforcement and
namespace). Each set runs in its own engine process, started as soon as the stack is loaded so
that it loads while the plan waits on the APIs. Nothing of this module is imported, and no
engine started, by a run without policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.config import LoadedStack
from reconciler.policy.evaluate import (
    PolicyReport,
    PolicyRun,
    declared_values,
    input_document,
    provider_settings,
)
from reconciler.policy.isolate import Limits
from reconciler.policy.sources import PolicySet, load_policy_set

__all__ = ["PolicyChoice", "PolicyGate", "Verdict", "open_gate", "stack_name", "start_shared"]


@dataclass(frozen=True)
class PolicyChoice:
    """What the command line chose: ``--policy`` paths and ``--policy-namespace``."""

    paths: tuple[Path, ...] = ()
    namespace: str = "main"


@dataclass(frozen=True)
class Verdict:
    """Every policy set's report on one plan."""

    reports: tuple[PolicyReport, ...]

    @property
    def denied(self) -> bool:
        return any(r.denied for r in self.reports)

    def denial_count(self) -> int:
        return sum(len(r.denials) for r in self.reports)

    def to_json(self) -> dict[str, Any]:
        return {"denied": self.denied, "results": [r.to_json() for r in self.reports]}


def policy_sets(choice: PolicyChoice, loaded: LoadedStack) -> list[PolicySet]:
    sets = []
    if choice.paths:
        sets.append(load_policy_set(choice.paths, namespace=choice.namespace))
    settings = getattr(loaded.stack, "policy", None)
    if settings is not None:
        paths = [p if Path(p).is_absolute() else loaded.root / p for p in map(Path, settings.paths)]
        sets.append(load_policy_set(paths, namespace=settings.namespace, enforcement=settings.enforcement))
    return sets


def stack_name(loaded: LoadedStack) -> str:
    """The stack's name for policies: the state's stack name if set, else its folder's name."""
    state_name = getattr(loaded.stack.state, "stack", None)
    return state_name or loaded.root.resolve().name


class PolicyGate:
    """The engines of a run's policy sets; ``judge`` gives the verdict on a plan."""

    def __init__(
        self, runs: Sequence[PolicyRun], loaded: LoadedStack, stack: str, shared: Sequence[PolicyRun] = ()
    ) -> None:
        self._shared = list(shared)  # judged here, stopped by their owner (a fleet run)
        self._runs = list(runs)
        self._declared = declared_values(loaded.resources)
        self._providers = provider_settings(loaded.stack.providers, loaded.secret_values)
        self._stack = stack

    async def judge(self, plan_doc: Mapping[str, Any], command: str) -> Verdict:
        doc = input_document(
            plan_doc, stack=self._stack, command=command, declared=self._declared, providers=self._providers
        )
        return Verdict(tuple([await run.evaluate(doc) for run in [*self._shared, *self._runs]]))

    async def close(self) -> None:
        for run in self._runs:
            await run.close()

    async def __aenter__(self) -> PolicyGate:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def open_gate(
    choice: PolicyChoice,
    loaded: LoadedStack,
    environ: Mapping[str, str],
    stack: str | None = None,
    shared: Sequence[PolicyRun] = (),
) -> PolicyGate | None:
    """A gate with every policy set's engine starting, or None when the run has no policies.
    ``shared``: engines already running for the command line's policies (a fleet run starts one
    for all its stacks); then ``choice`` adds nothing and only the stack's own block is started."""
    sets = policy_sets(choice, loaded)
    if not sets and not shared:
        return None
    limits = Limits.from_environ(environ)
    runs = [PolicyRun(s, limits).start() for s in sets]
    return PolicyGate(runs, loaded, stack or stack_name(loaded), shared)


def start_shared(choice: PolicyChoice, environ: Mapping[str, str]) -> PolicyRun:
    """One engine for the command line's policies, for every stack of a fleet run (compiled once;
    its requests are taken one at a time). The caller closes it."""
    policy = load_policy_set(choice.paths, namespace=choice.namespace)
    return PolicyRun(policy, Limits.from_environ(environ)).start()
