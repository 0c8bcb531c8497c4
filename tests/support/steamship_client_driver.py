"""Drive the official ``steamship`` client against an engine and print what it observed, as JSON.

Run with the interpreter of the client's own virtualenv (``.ci/install-steamship-client.sh``), not
the project's: the client pins pydantic 1. Used by ``tests/integration/test_steamship_conformance.py``::

    python steamship_client_driver.py --base http://127.0.0.1:PORT/steamship/api/v1/ --api-key KEY

Every step uses the client's public API the way a user would; an unexpected exception ends the run
with a traceback (the test shows it), an expected one is recorded by its message.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from steamship import Steamship, SteamshipError, Task, Workspace
from steamship.data.package.package import Package
from steamship.data.package.package_instance import PackageInstance
from steamship.data.user import User

POLL = 0.05  # seconds between polls; the emulator's tasks take a fraction of a second


def error_of(action: Callable[[], Any]) -> str:
    """The message of the SteamshipError ``action`` raises; fail loudly if it raises none."""
    try:
        result = action()
    except SteamshipError as exc:
        return str(exc.message)
    raise AssertionError(f"expected a SteamshipError, got {result!r}")


def instance_view(instance: PackageInstance) -> dict[str, Any]:
    view = instance.dict(exclude={"client"})
    view["created_at"] = instance.created_at.isoformat() if instance.created_at else None
    return view


def wait_task(task: Task) -> tuple[list[str], Any]:
    """Poll a task to its end the way the client does; return the states seen and the output."""
    assert isinstance(task, Task), f"expected a Task, got {type(task).__name__}"
    states = [task.state]
    task.wait(max_timeout_s=30, retry_delay_s=POLL, on_each_refresh=lambda _n, _t, t: states.append(t.state))
    return states, task.output


def workspaces(client: Steamship, out: dict[str, Any]) -> None:
    out["switched"] = {"id": client.config.workspace_id, "handle": client.config.workspace_handle}
    fetched = Workspace.create(client, handle="conf-ws", fetch_if_exists=True)
    out["create_fetch_if_exists"] = {"id": fetched.id, "handle": fetched.handle}
    out["create_exists_error"] = error_of(
        lambda: Workspace.create(client, handle="conf-ws", fetch_if_exists=False)
    )
    out["get_by_handle"] = Workspace.get(client, handle="conf-ws").id
    out["get_by_id"] = Workspace.get(client, id_=fetched.id).handle
    out["get_missing_error"] = error_of(lambda: Workspace.get(client, handle="no-such-workspace"))
    out["invalid_handle_error"] = error_of(lambda: Workspace.create(client, handle="Not Valid"))
    for handle in ("conf-a", "conf-b", "conf-c"):
        Workspace.create(client, handle=handle)
    pages, token = [], None
    while True:
        page = Workspace.list(client, page_size=2, page_token=token)
        pages.append([w.handle for w in page.workspaces])
        token = page.next_page_token
        if not token:
            break
    out["list_pages"] = pages

    doomed = Workspace.get(client, handle="conf-a")
    delete_task = doomed.delete()
    states, output = wait_task(delete_task)
    fetched_task = Task.get(client, _id=delete_task.task_id)
    out["task_get"] = {"same_id": fetched_task.task_id == delete_task.task_id, "state": fetched_task.state}
    out["task_get_missing_error"] = error_of(lambda: Task.get(client, _id="no-such-task"))
    out["delete_task_states"] = states
    out["delete_task_output"] = {"id": output.id, "handle": output.handle}
    out["get_deleted_error"] = error_of(lambda: Workspace.get(client, handle="conf-a"))
    out["delete_twice_error"] = error_of(doomed.delete)

    task = client.post(
        "workspace/create",
        {"handle": "conf-bg", "fetchIfExists": True},
        expect=Workspace,
        as_background_task=True,
    )
    states, output = wait_task(task)
    out["background_task_states"] = states
    out["background_task_output"] = output.handle


def package_instances(client: Steamship, out: dict[str, Any]) -> None:
    package = Package.get(client, "summarize-text")
    out["package"] = {
        "id": package.id,
        "version": package.profile.version,
        "config_template": package.profile.config_template_as_dict(),
    }
    summ = PackageInstance.create(
        client, package_handle="summarize-text", handle="summ", config={"model": "gpt-4", "max_words": 200}
    )
    out["created"] = instance_view(summ)
    summ.wait_for_init(max_timeout_s=30, retry_delay_s=POLL)
    out["after_wait_for_init"] = summ.init_status
    again = PackageInstance.create(
        client,
        package_handle="summarize-text",
        handle="summ",
        fetch_if_exists=True,
        config={"model": "other"},
    )
    out["fetch_if_exists"] = {"id": again.id, "config": again.config}
    out["exists_error"] = error_of(
        lambda: PackageInstance.create(
            client,
            package_handle="summarize-text",
            handle="summ",
            fetch_if_exists=False,
            config={"model": "x"},
        )
    )
    out["invalid_config_error"] = error_of(
        lambda: PackageInstance.create(
            client,
            package_handle="summarize-text",
            handle="bad",
            config={"max_words": "many", "colour": "red"},
        )
    )
    out["unknown_package_error"] = error_of(
        lambda: PackageInstance.create(client, package_handle="no-such-package", handle="x")
    )
    out["unknown_version_error"] = error_of(
        lambda: PackageInstance.create(
            client, package_handle="hello-world", package_version_handle="9.9.9", handle="x"
        )
    )
    defaults = PackageInstance.create(
        client, package_handle="summarize-text", handle="defaults", config={"model": "m"}
    )
    out["defaults_config"] = defaults.config
    latest = PackageInstance.create(client, package_handle="hello-world", handle="hello-latest")
    pinned = PackageInstance.create(
        client, package_handle="hello-world", package_version_handle="1.0.0", handle="hello-pinned"
    )
    out["versions"] = {"latest": latest.package_version_handle, "pinned": pinned.package_version_handle}
    got = PackageInstance.get(client, handle="summ")
    out["get"] = instance_view(got)

    used = client.use("hello-world", instance_handle="used", fetch_if_exists=True)
    out["use"] = {"handle": used.handle, "init_status": used.init_status}

    broken = PackageInstance.create(client, package_handle="broken-init", handle="broken")
    broken.wait_for_init(max_timeout_s=30, retry_delay_s=POLL)
    out["broken_init_status"] = broken.init_status

    listing = PackageInstance.list(client)
    out["list_handles"] = [i.handle for i in listing.package_instances]
    pages, token = [], None
    while True:
        page = PackageInstance.list(client, page_size=2, page_token=token)
        pages.append([i.handle for i in page.package_instances])
        token = page.next_page_token
        if not token:
            break
    out["list_pages"] = pages
    across = PackageInstance.list(client, across_workspaces=True, package_id=package.id)
    out["list_across_summarize"] = sorted(i.handle for i in across.package_instances)

    deleted = got.delete()
    out["deleted"] = {"id": deleted.id, "handle": deleted.handle}
    out["get_deleted_error"] = error_of(lambda: PackageInstance.get(client, handle="summ"))
    out["delete_twice_error"] = error_of(got.delete)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--base", required=True, help="API base, e.g. http://127.0.0.1:8787/steamship/api/v1/"
    )
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()

    out: dict[str, Any] = {}
    me = User.current(Steamship(api_key=args.api_key, api_base=args.base, workspace="conf-ws"))
    out["current_user"] = {"id": me.id, "handle": me.handle}
    out["bad_key_error"] = error_of(lambda: Steamship(api_key="wrong-key", api_base=args.base, workspace="x"))
    client = Steamship(api_key=args.api_key, api_base=args.base, workspace="conf-ws")
    out["workspaces"] = {}
    workspaces(client, out["workspaces"])
    out["instances"] = {}
    package_instances(client, out["instances"])
    json.dump(out, sys.stdout, indent=2, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
