"""create_before_destroy, deposed leftovers and refused changes, through ``plan`` and
``engine.executing.apply``
with the real LocalStateStore and no HTTP.

No registered kind can exercise create_before_destroy: the kinds that allow it (cores, webhooks) have no
replace-forcing field, and those with one (repositories, sequences, package_instances) do not allow it.
So these tests register a small in-test kind, ``widgets`` (``size`` forces a replace, the kind allows
create_before_destroy), with an in-memory provider that logs its calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.config.lifecycle import Lifecycle
from reconciler.engine.deciding.plan import Action, Plan, plan
from reconciler.engine.executing.apply import ApplyResult, Outcome, apply
from reconciler.errors import ApiError
from reconciler.kinds import KINDS, KindRegistry
from reconciler.kinds.base import Kind, SpecModel
from reconciler.providers.stats import CallStats
from reconciler.state import LocalStateStore, StateEntry
from reconciler.values import Desired, LiveObject, LiveState


class WidgetSpec(SpecModel):
    label: str
    size: int


WIDGETS = Kind(
    name="widgets",
    provider="widgetry",
    spec=WidgetSpec,
    summary="test widgets",
    natural_key=lambda name, attrs: (name,),
    key_doc="the widget name",
    replace_fields={"size": "a widget cannot be resized"},
    create_before_destroy=True,
)


class Widgetry:
    """An in-memory provider; ``calls`` logs (verb, id); ``fail_delete`` ids answer 503."""

    name = "widgetry"

    def stats(self) -> CallStats:
        return CallStats()

    def __init__(self, store: LocalStateStore) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_delete: set[str] = set()
        self.store = store
        self.state_at_delete: dict[str, Any] = {}
        self._next = 0

    def obj(self, remote_id: str) -> LiveObject:
        name = self.names[remote_id]
        return LiveObject("widgets", remote_id, (name,), dict(self.objects[remote_id]), name)

    def add(self, name: str, **attrs: Any) -> str:
        self._next += 1
        remote_id = f"wid_{self._next}"
        self.objects[remote_id], self.names[remote_id] = attrs, name
        return remote_id

    async def refresh(self, kinds: set[str], live: LiveState) -> None:
        for remote_id in sorted(self.objects):
            live.add(self.obj(remote_id))

    async def create(self, desired: Desired, attrs: Mapping[str, Any]) -> LiveObject:
        remote_id = self.add(desired.name, **attrs)
        self.calls.append(("create", remote_id))
        return self.obj(remote_id)

    async def update(
        self, desired: Desired, live: LiveObject, attrs: Mapping[str, Any], changed: set[str]
    ) -> LiveObject:
        self.calls.append(("update", live.remote_id))
        self.objects[live.remote_id].update({k: attrs[k] for k in changed})
        return self.obj(live.remote_id)

    async def delete(self, kind: str, live: LiveObject) -> None:
        self.calls.append(("delete", live.remote_id))
        self.state_at_delete[live.remote_id] = dict(self.store.read().entries)
        if live.remote_id in self.fail_delete:
            raise ApiError(503, "unavailable", "DELETE /widgets")
        self.objects.pop(live.remote_id, None)

    async def aclose(self) -> None:
        pass


# Planner, apply and state store take the kinds as a parameter: no module global is patched.
WITH_WIDGETS = KindRegistry((*KINDS, WIDGETS))


def widget(name: str, size: int, label: str = "w", **lifecycle: Any) -> Desired:
    attrs = {"label": label, "size": size}
    return Desired("widgets", name, attrs, attrs, None, Lifecycle(**lifecycle) if lifecycle else None)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.store = LocalStateStore(tmp_path / "state.json", kinds=WITH_WIDGETS.by_name)
        self.provider = Widgetry(self.store)

    def plan(self, *desired: Desired) -> Plan:
        live = LiveState()
        asyncio.run(self.provider.refresh({"widgets"}, live))
        return plan(list(desired), live, self.store.read(), kinds=WITH_WIDGETS)

    def apply(self, the_plan: Plan) -> ApplyResult:
        providers = {"widgetry": self.provider}
        return asyncio.run(apply(the_plan, providers, self.store, kinds=WITH_WIDGETS))  # type: ignore[arg-type]

    def converge(self, *desired: Desired) -> ApplyResult:
        return self.apply(self.plan(*desired))

    def entry(self, address: str = "widgets.w") -> StateEntry:
        found = self.store.read().get(address)
        assert found is not None, f"{address} is not in state"
        return found


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    assert w.converge(widget("w", 1, create_before_destroy=True)).ok
    w.provider.calls.clear()
    return w


def test_create_before_destroy_creates_first_and_records_the_old_object_until_it_is_gone(
    world: World,
) -> None:
    old = world.entry().remote_id
    the_plan = world.plan(widget("w", 2, create_before_destroy=True))
    (change,) = the_plan.changes
    assert (change.action, change.create_before_destroy) == (Action.REPLACE, True)
    assert change.to_json()["replace_order"] == "create-then-delete"

    result = world.apply(the_plan)
    assert result.ok, result
    new = world.entry().remote_id
    assert world.provider.calls == [("create", new), ("delete", old)]
    during = world.provider.state_at_delete[old]["widgets.w"]
    assert (during.remote_id, during.deposed) == (new, (old,)), "the old one stays in state"
    assert world.entry().deposed == ()
    assert set(world.provider.objects) == {new}
    assert not world.plan(widget("w", 2, create_before_destroy=True)).has_changes()


def test_without_it_a_replace_deletes_first(world: World) -> None:
    old = world.entry().remote_id
    assert world.converge(widget("w", 2)).ok
    assert world.provider.calls == [("delete", old), ("create", world.entry().remote_id)]


def test_a_failed_delete_leaves_a_deposed_object_that_the_next_plan_deletes(world: World) -> None:
    old = world.entry().remote_id
    world.provider.fail_delete.add(old)
    result = world.converge(widget("w", 2, create_before_destroy=True))
    assert result.results["widgets.w"].outcome is Outcome.FAILED
    new = world.entry().remote_id
    assert new != old and world.entry().deposed == (old,)

    world.provider.fail_delete.clear()
    the_plan = world.plan(widget("w", 2, create_before_destroy=True))
    assert {c.address: c.action for c in the_plan.changes} == {
        "widgets.w": Action.NO_OP,
        f"widgets.w#deposed-{old}": Action.DELETE,
    }
    assert the_plan.unmanaged == ()
    assert world.apply(the_plan).ok
    assert set(world.provider.objects) == {new}
    assert world.entry().deposed == ()
    assert not world.plan(widget("w", 2, create_before_destroy=True)).has_changes()


def test_an_update_alongside_a_deposed_delete_keeps_track_of_the_old_object(world: World) -> None:
    """The owner's update is recorded while its leftover's delete fails: the leftover must stay in
    state, or it becomes an orphan nobody deletes."""
    old = world.entry().remote_id
    world.provider.fail_delete.add(old)
    world.converge(widget("w", 2, create_before_destroy=True))
    the_plan = world.plan(widget("w", 2, label="relabelled", create_before_destroy=True))
    assert {c.address: c.action for c in the_plan.changes} == {
        "widgets.w": Action.UPDATE,
        f"widgets.w#deposed-{old}": Action.DELETE,
    }
    result = world.apply(the_plan)
    assert result.results["widgets.w"].outcome is Outcome.DONE
    assert result.results[f"widgets.w#deposed-{old}"].outcome is Outcome.FAILED
    assert world.entry().deposed == (old,)
    world.provider.fail_delete.clear()
    assert world.converge(widget("w", 2, label="relabelled", create_before_destroy=True)).ok
    assert set(world.provider.objects) == {world.entry().remote_id}


def test_a_refused_replace_fails_without_a_call_and_its_dependents_do_not_start(world: World) -> None:
    the_plan = world.plan(widget("w", 2, prevent_destroy=True, create_before_destroy=True))
    (change,) = the_plan.changes
    assert change.refused and "widgets.w has lifecycle.prevent_destroy set" in change.refused
    dependent = change._replace(
        address="widgets.other", name="other", refused=None, action=Action.UPDATE,
        depends_on=("widgets.w",),
    )  # fmt: skip
    result = world.apply(replace(the_plan, changes=(change, dependent)))
    assert world.provider.calls == []
    assert result.results["widgets.w"].outcome is Outcome.FAILED
    assert result.results["widgets.w"].error == change.refused
    other = result.results["widgets.other"]
    assert (other.outcome, other.blocked_by) == (Outcome.NOT_STARTED, ("widgets.w",))


def test_prevent_destroy_is_remembered_in_state_after_the_resource_leaves_the_yaml(world: World) -> None:
    assert world.converge(widget("w", 1, label="x", prevent_destroy=True)).ok
    assert world.entry().prevent_destroy is True
    the_plan = world.plan()
    (change,) = the_plan.changes
    assert change.action is Action.DELETE and change.refused
    assert not world.apply(the_plan).ok
    assert len(world.provider.objects) == 1 and world.entry() is not None


def test_adding_prevent_destroy_to_an_up_to_date_resource_protects_it(world: World) -> None:
    """Only lifecycle changed: the plan must still record the protection, or removing the resource from
    the YAML later deletes it."""
    world.converge(widget("w", 1, prevent_destroy=True, create_before_destroy=True))
    assert world.entry().prevent_destroy is True
    (change,) = world.plan().changes
    assert change.refused


def test_lifting_prevent_destroy_on_an_up_to_date_resource_lets_it_go(world: World) -> None:
    """The refusal says "declare it with lifecycle.prevent_destroy: false and apply, then remove it"."""
    world.converge(widget("w", 1, label="x", prevent_destroy=True))
    world.converge(widget("w", 1, label="x", prevent_destroy=False))
    assert world.entry().prevent_destroy is False
    (change,) = world.plan().changes
    assert change.action is Action.DELETE and not change.refused


def test_removing_the_owner_waits_for_its_leftover_so_a_failed_delete_forgets_nothing(world: World) -> None:
    old = world.entry().remote_id
    world.provider.fail_delete.add(old)
    world.converge(widget("w", 2, create_before_destroy=True))
    new = world.entry().remote_id
    the_plan = world.plan()
    owner = next(c for c in the_plan.changes if c.address == "widgets.w")
    assert owner.action is Action.DELETE and owner.depends_on == (f"widgets.w#deposed-{old}",)
    result = world.apply(the_plan)
    assert result.results["widgets.w"].outcome is Outcome.NOT_STARTED
    assert (world.entry().remote_id, world.entry().deposed) == (new, (old,))
    world.provider.fail_delete.clear()
    assert world.converge().ok
    assert world.provider.objects == {} and world.store.read().entries == {}


# --- state that cannot be written, a lock found lost (issue 18, items 1 and 11) ------------------


def test_a_failed_state_write_reports_what_was_created_and_stops(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.cli.console import apply_summary
    from reconciler.errors import StateError

    writes = {"n": 0}
    real_write = world.store._write_text

    def disk_full_after_one_write(text: str) -> None:
        writes["n"] += 1
        if writes["n"] >= 2:
            raise StateError("cannot write state file: No space left on device")
        real_write(text)

    monkeypatch.setattr(world.store, "_write_text", disk_full_after_one_write)
    the_plan = world.plan(*(widget(n, 1) for n in ("a", "b", "c", "d", "e", "f")), widget("w", 1))
    providers = {"widgetry": world.provider}
    result = asyncio.run(apply(the_plan, providers, world.store, parallelism=1, kinds=WITH_WIDGETS))  # type: ignore[arg-type]
    created = {rid for verb, rid in world.provider.calls if verb == "create"}
    recorded = {
        e.remote_id
        for e in LocalStateStore(world.store.path, kinds=WITH_WIDGETS.by_name).read().entries.values()
    }
    unrecorded = {r.remote_id for r in result.results.values() if r.unrecorded}
    # Every object the API made is either in state or reported, with its id, as not recorded.
    assert unrecorded and created == (created & recorded) | unrecorded
    text = "\n".join(apply_summary(result))
    added = sum(1 for r in result.by_outcome(Outcome.DONE) if r.action is Action.CREATE)
    assert f"{added} added" in text
    assert f"{len(unrecorded)} more done on the API but NOT recorded in state" in text
    assert all(f"[id={rid}]" in text for rid in unrecorded) and "No space left on device" in text
    assert f"State does NOT record the {len(unrecorded)} change" in text
    assert "State records everything that was done" not in text


def test_a_lost_lock_starts_no_new_action(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStateStore(tmp_path / "d" / "state.json", kinds=WITH_WIDGETS.by_name)
    provider = Widgetry(store)
    real_create = provider.create

    async def create_then_lose_the_directory(desired: Desired, attrs: Mapping[str, Any]) -> LiveObject:
        obj = await real_create(desired, attrs)
        if len(provider.calls) == 1:  # someone moves .reconciler away mid-apply
            store.path.parent.rename(tmp_path / "moved")
            store.path.parent.mkdir()
        return obj

    monkeypatch.setattr(provider, "create", create_then_lose_the_directory)
    live = LiveState()
    the_plan = plan([widget(n, 1) for n in ("a", "b", "c")], live, store.read(), kinds=WITH_WIDGETS)
    with store.lock("apply"):
        providers = {"widgetry": provider}
        result = asyncio.run(apply(the_plan, providers, store, parallelism=1, kinds=WITH_WIDGETS))  # type: ignore[arg-type]
    assert len(provider.calls) == 1  # b and c never reached the API
    (first,) = [r for r in result.results.values() if r.outcome is Outcome.FAILED]
    assert first.unrecorded and "lost the state lock" in (first.error or "")
    waiting = result.by_outcome(Outcome.NOT_STARTED)
    assert len(waiting) == 2 and all("lost the state lock" in (r.note or "") for r in waiting)
    assert not store.path.exists()
