"""``reconciler watch`` against the emulators over loopback: heal reverts a change made outside
within two intervals, detect-only leaves it alone, a stack file emptied by mistake deletes nothing,
and a resource someone keeps changing is given up (contested) with an alert."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import httpx2

from tests.support.cli import RunCli
from tests.support.fleet import applied_fleet, drift_outside
from tests.support.sandbox import StartSandbox
from tests.support.watch import WatchProcess, running_watch, set_watch
from tests.support.webhooks import receive_webhooks

INTERVAL = 2.0


def healed_at_least(watch: WatchProcess, count: int) -> bool:
    return len(watch.events("healed")) >= count


def live_cores(signaloid_url: str, key: str) -> dict[str, int]:
    """The key's own cores (name -> precision), over the emulator's API."""
    with httpx2.Client(base_url=signaloid_url, headers={"Authorization": key}, timeout=10) as api:
        return {c["Name"]: c["Precision"] for c in api.get("/cores").json()["Cores"] if c.get("Name")}


def test_heal_reverts_an_out_of_band_patch_within_two_intervals(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    root = tmp_path / "fleet"
    [healed, watched] = applied_fleet(root, run_cli, 2)
    other = watched.relative_to(tmp_path).as_posix()
    set_watch(healed, heal=True)  # the other stack is detect-only (no flag, no watch: section)
    work = tmp_path / "work"  # journals and history here: the stack folders may be read-only checkouts
    with running_watch("--stacks", root, "--interval", f"{INTERVAL:g}s", "--work-dir", work) as watch:
        watch.wait_for(lambda: len(watch.events("checked")) >= 2, "a first check of both stacks")
        drifted_at = time.time()
        drift_outside(sandbox.signaloid_url, "key-0", "s0-a", 32)
        drift_outside(sandbox.signaloid_url, "key-1", "s1-a", 32)

        heal = watch.wait_for(lambda: watch.events("healed"), "the heal", timeout=4 * INTERVAL)[0]
        assert heal["at_unix"] - drifted_at <= 2 * INTERVAL, heal
        assert heal["addresses"] == ["cores.s0-a"] and heal["stack"].endswith("env-0")
        assert live_cores(sandbox.signaloid_url, "key-0")["s0-a"] == 128

        # Detect-only: the other stack's drift is reported (once) and left alone, check after check.
        other = next(line["stack"] for line in watch.events("checked") if line["stack"].endswith(other))
        checked = len(watch.events("checked", other))
        watch.wait_for(
            lambda: len(watch.events("checked", other)) >= checked + 2, "two more checks of the other stack"
        )
        assert live_cores(sandbox.signaloid_url, "key-1")["s1-a"] == 32
        assert [d["stack"] for d in watch.events("drifted")] == [other]
        assert watch.events("checked", other)[-1]["status"] == "drifted"
        assert watch.events("healed", other) == []
        assert watch.stop() == 0
    scratch = work / healed.relative_to(root) / ".reconciler"
    assert (scratch / "journal.jsonl").is_file() and (scratch / "watch-history.json").is_file()
    assert not (healed / ".reconciler" / "watch-history.json").exists()


def test_a_stack_file_emptied_by_mistake_deletes_nothing(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    root = tmp_path / "fleet"
    [emptied, truncated] = applied_fleet(root, run_cli, 2)
    with running_watch("--stacks", root, "--interval", "1s", "--sync", "--heal", "--allow-delete") as watch:
        watch.wait_for(lambda: len(watch.events("checked")) >= 2, "a first check")
        (emptied / "stack.yaml").write_text("")  # an empty file: the loader refuses it
        (truncated / "stack.yaml").write_text("version: 1\n")  # valid, declaring nothing
        watch.wait_for(lambda: len(watch.events("errored")) >= 2, "both stacks errored")
        seen = len(watch.events("checked"))
        watch.wait_for(lambda: len(watch.events("checked")) >= seen + 4, "more checks")
        assert watch.stop() == 0

    errors = {e["stack"].rsplit("/", 1)[-1]: e["message"] for e in watch.events("errored")}
    assert "the file is empty" in errors["env-0"]
    assert "declares no resources while its state manages 2" in errors["env-1"]
    assert watch.events("synced") == [] and watch.events("healed") == []
    assert live_cores(sandbox.signaloid_url, "key-0") == {"s0-a": 128, "s0-b": 64}
    assert live_cores(sandbox.signaloid_url, "key-1") == {"s1-a": 128, "s1-b": 64}


def test_a_resource_changed_again_and_again_is_given_up_with_an_alert(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    root = tmp_path / "fleet"
    [folder] = applied_fleet(root, run_cli, 1)
    set_watch(folder, heal=True)
    with (
        receive_webhooks() as (hook, received),
        running_watch(
            "--stacks", root, "--interval", "1s", "--contested-after", "3", "--contested-window", "1m",
            "--notify", hook,
        ) as watch,
    ):  # fmt: skip
        for heals in range(1, 4):  # someone puts their value back after every heal
            drift_outside(sandbox.signaloid_url, "key-0", "s0-a", 16)
            watch.wait_for(partial(healed_at_least, watch, heals), f"heal {heals}")
        drift_outside(sandbox.signaloid_url, "key-0", "s0-a", 16)
        contested = watch.wait_for(lambda: watch.events("contested"), "the resource given up")[0]
        assert contested["addresses"] == ["cores.s0-a"]
        seen = len(watch.events("checked"))
        watch.wait_for(lambda: len(watch.events("checked")) >= seen + 3, "three more checks")
        assert len(watch.events("healed")) == 3  # no fourth heal: the person's value stays
        assert live_cores(sandbox.signaloid_url, "key-0")["s0-a"] == 16
        stack = watch.events("checked")[-1]
        assert stack["status"] == "drifted"
        watch.wait_for(lambda: any(m["event"] == "contested" for m in received), "the alert")
        assert watch.stop() == 0

    alerts = [m["event"] for m in received]
    assert alerts.count("contested") == 1 and alerts.count("healed") == 3, alerts  # transitions only
    assert all(m["report"] == "reconciler-watch-event" and m["text"] for m in received)


def test_the_global_switch_stops_every_write_until_it_is_lifted(
    tmp_path: Path, run_cli: RunCli, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox()
    root = tmp_path / "fleet"
    applied_fleet(root, run_cli, 1)
    switch = tmp_path / "SUSPEND"
    switch.touch()
    with running_watch("--stacks", root, "--interval", "1s", "--heal", "--suspend-file", switch) as watch:
        drift_outside(sandbox.signaloid_url, "key-0", "s0-a", 32)
        watch.wait_for(lambda: watch.events("drifted"), "the drift seen")
        seen = len(watch.events("checked"))
        watch.wait_for(lambda: len(watch.events("checked")) >= seen + 2, "two more checks")
        assert watch.events("healed") == [] and live_cores(sandbox.signaloid_url, "key-0")["s0-a"] == 32
        assert watch.url is not None
        assert httpx2.get(f"{watch.url}/api/v1/stacks").json()["suspended"] is True
        switch.unlink()
        watch.wait_for(lambda: watch.events("healed"), "the heal once the switch is lifted")
        assert live_cores(sandbox.signaloid_url, "key-0")["s0-a"] == 128
        assert watch.stop() == 0
