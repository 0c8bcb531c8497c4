"""The Steamship provider against the emulator in process, on a fake clock shared by both.

The emulator reads its task and init timings from the same clock the provider's polling sleeps
on, so waiting is exercised in full without a real sleep.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest

from reconciler.errors import CreatedUnusable, NotFound, ProviderError
from reconciler.providers.http import ApiClient
from reconciler.providers.steamship.parse import parse_instance
from reconciler.providers.steamship.provider import SteamshipProvider
from reconciler.sandbox.steamship import create_app
from reconciler.values import Desired, LiveState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Harness:
    def __init__(self, wait_timeout_s: float = 60.0, **emulator: Any) -> None:
        self.clock = FakeClock()
        options = {"init_seconds": 2.0, "task_seconds": 1.5, **emulator}
        self.app = create_app(None, clock=self.clock.time, **options)
        self.calls: list[str] = []
        self.bodies: list[tuple[str, bytes]] = []

        async def record(request: httpx2.Request) -> None:
            self.calls.append(request.url.path.removeprefix("/api/v1/"))
            self.bodies.append((self.calls[-1], request.content))

        client = httpx2.AsyncClient(
            base_url="http://steamship.test/api/v1/",
            transport=httpx2.ASGITransport(app=self.app),
            headers={"Authorization": "Bearer k"},
            event_hooks={"request": [record]},
        )
        http = ApiClient("steamship", client, sleep=self.clock.sleep, clock=self.clock.time)
        self.provider = SteamshipProvider(http, wait_timeout_s)

    def run(self, fn: Callable[[SteamshipProvider], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            try:
                return await fn(self.provider)
            finally:
                await self.provider.aclose()

        return asyncio.run(main())


@pytest.fixture
def harness() -> Iterator[Harness]:
    yield Harness()


def workspace(name: str) -> Desired:
    return Desired("workspaces", name, {}, {})


def instance(name: str, ws: str, package: str = "hello-world", **attrs: Any) -> Desired:
    full = {"workspace": ws, "package": package, "version": None, "config": None, **attrs}
    return Desired("package_instances", name, full, full)


def test_a_created_instance_is_returned_once_its_init_completed(harness: Harness) -> None:
    async def body(p: SteamshipProvider) -> Any:
        await p.create(workspace("research"), {})
        summarizer = instance("s", "research", "summarize-text", config={"model": "gpt-4"})
        return await p.create(summarizer, summarizer.attrs)

    obj = harness.run(body)
    assert obj.extra["init_status"] == "complete"
    assert obj.attrs["config"] == {"model": "gpt-4", "max_words": 100}
    assert harness.clock.now - 1000.0 >= 2.0, "returned before init finished"
    assert harness.calls.count("package/instance/get") >= 2
    assert max(harness.clock.sleeps) <= 1.0
    polls = [json.loads(body) for call, body in harness.bodies if call == "package/instance/get"]
    assert polls and all(poll == {"handle": "s"} for poll in polls), polls  # as the official client does


def test_an_instance_replaced_while_initializing_is_an_error(harness: Harness) -> None:
    """Polling by handle must not take a new instance of the same handle for the one it created."""

    async def swap(p: SteamshipProvider) -> Any:
        await p.create(workspace("w"), {})
        data = await p._call("package/instance/create", {"packageHandle": "hello-world", "handle": "s"},
                             workspace={"X-Workspace-Handle": "w"})  # fmt: skip
        obj = parse_instance(data["packageInstance"])
        await p._call("package/instance/delete", {"id": obj.remote_id}, workspace={"X-Workspace-Handle": "w"})
        await p._call("package/instance/create", {"packageHandle": "hello-world", "handle": "s"},
                      workspace={"X-Workspace-Handle": "w"})  # fmt: skip
        return await p._wait_for_init(obj)

    with pytest.raises(ProviderError, match=r"package instance 's' \(.+\) is now .+: it vanished"):
        harness.run(swap)


def test_a_failed_init_raises_with_the_engines_message_and_carries_the_instance(harness: Harness) -> None:
    async def body(p: SteamshipProvider) -> Any:
        await p.create(workspace("research"), {})
        await p.create(
            instance("b", "research", "broken-init"), instance("b", "research", "broken-init").attrs
        )

    with pytest.raises(CreatedUnusable) as caught:
        harness.run(body)
    assert "broken-init raised an error in its init handler" in str(caught.value)
    assert caught.value.obj.remote_id  # type: ignore[attr-defined]


def test_init_that_outlasts_the_deadline_is_reported_not_awaited_forever() -> None:
    slow = Harness(wait_timeout_s=5.0, init_seconds=600.0)

    async def body(p: SteamshipProvider) -> Any:
        await p.create(workspace("w"), {})
        await p.create(instance("i", "w"), instance("i", "w").attrs)

    with pytest.raises(CreatedUnusable, match="still initializing after 5s"):
        slow.run(body)
    assert slow.clock.now - 1000.0 <= 5.0


def test_deleting_a_workspace_polls_its_task_until_it_succeeds(harness: Harness) -> None:
    async def body(p: SteamshipProvider) -> LiveState:
        ws = await p.create(workspace("gone"), {})
        await p.delete("workspaces", ws)
        live = LiveState()
        await p.refresh({"workspaces"}, live)
        return live

    live = harness.run(body)
    assert [o.name for o in live.objects.get("workspaces", [])] == []
    assert harness.calls.count("task/status") >= 2
    assert harness.clock.now - 1000.0 >= 1.5


def test_a_task_still_running_at_the_deadline_is_an_error() -> None:
    slow = Harness(wait_timeout_s=3.0, task_seconds=600.0)

    async def body(p: SteamshipProvider) -> None:
        ws = await p.create(workspace("w"), {})
        await p.delete("workspaces", ws)

    with pytest.raises(ProviderError, match=r"still (waiting|running) after 3s"):
        slow.run(body)


def test_refresh_reads_every_page_of_both_kinds_one_list_call_per_page() -> None:
    small = Harness(page_size_max=2, init_seconds=0.0)

    async def body(p: SteamshipProvider) -> LiveState:
        for w in ("a", "b", "c"):
            await p.create(workspace(w), {})
            for i in ("x", "y"):
                await p.create(instance(i, w), instance(i, w).attrs)
        small.calls.clear()
        live = LiveState()
        await p.refresh({"package_instances"}, live)
        return live

    live = small.run(body)
    assert sorted(o.name for o in live.objects["workspaces"]) == ["a", "b", "c"]
    assert sorted(o.key for o in live.objects["package_instances"]) == [
        (w, i) for w in ("a", "b", "c") for i in ("x", "y")
    ]
    assert small.calls.count("workspace/list") == 2  # 3 workspaces, 2 a page
    assert small.calls.count("package/instance/list") == 3  # 6 instances across workspaces
    assert set(small.calls) == {"workspace/list", "package/instance/list"}


def test_an_unknown_package_is_the_engines_error_with_its_code(harness: Harness) -> None:
    async def body(p: SteamshipProvider) -> None:
        await p.create(workspace("w"), {})
        await p.create(instance("i", "w", "no-such-package"), instance("i", "w", "no-such-package").attrs)

    with pytest.raises(NotFound) as caught:
        harness.run(body)
    assert 'Package "no-such-package" was not found. [NotFound]' in str(caught.value)


def test_deleting_what_is_already_gone_is_not_an_error(harness: Harness) -> None:
    async def body(p: SteamshipProvider) -> LiveState:
        ws = await p.create(workspace("w"), {})
        inst = await p.create(instance("i", "w"), instance("i", "w").attrs)
        await p.delete("workspaces", ws)  # takes the instance with it
        await p.delete("package_instances", inst)
        await p.delete("workspaces", ws)
        live = LiveState()
        await p.refresh({"workspaces", "package_instances"}, live)
        return live

    live = harness.run(body)  # no error raised for the two deletes of what was gone
    assert harness.calls.count("workspace/delete") == 2, "the second delete was sent, and answered"
    assert "package/instance/delete" in harness.calls
    assert not live.objects.get("workspaces") and not live.objects.get("package_instances")


def test_stats_are_a_snapshot_that_later_calls_do_not_change(harness: Harness) -> None:
    """What a benchmark or a summary subtracts: two readings around a call differ by its requests."""

    async def body(p: SteamshipProvider) -> tuple[int, int]:
        before = p.stats()
        await p.create(workspace("w"), {})
        return before.requests, p.stats().requests

    before, after = harness.run(body)
    assert before == 0 and after == len(harness.calls) > 0
