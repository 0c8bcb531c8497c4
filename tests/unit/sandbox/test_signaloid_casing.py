"""The Signaloid emulator's ``camel`` casing: the objects of the SDK's types (``webhookId``, ``secret``),
the same data as the reference's PascalCase; requests and list envelopes are spelled as before."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from reconciler.sandbox.signaloid import create_app
from reconciler.sandbox.signaloid_casing import camel

KEY = {"Authorization": "scce_test_key"}
CORE = {"Name": "fast", "Class": "C0", "Precision": 128, "MemorySize": 256000,
        "Microarchitecture": "Athens", "CorrelationTracking": "Autocorrelation"}  # fmt: skip


@pytest.mark.parametrize(
    ("pascal", "expected"),
    [("WebhookID", "webhookId"), ("Secret", "secret"), ("RemoteURL", "remoteUrl"), ("URL", "url"),
     ("MemorySize", "memorySize"), ("ResourceID", "resourceId")],
)  # fmt: skip
def test_camel(pascal: str, expected: str) -> None:
    assert camel(pascal) == expected


def test_camel_answers_carry_the_same_data() -> None:
    pascal = TestClient(create_app(), headers=KEY)
    camel_api = TestClient(create_app(casing="camel"), headers=KEY)
    hook_body = {"url": "https://hooks.example.com/x", "events": ["task-status"]}
    hook = camel_api.post("/webhooks", json=hook_body)
    assert hook.status_code == 201
    assert {"webhookId", "secret", "url", "events", "status"} <= set(
        hook.json()
    ) and "WebhookID" not in hook.json()
    reference = pascal.post("/webhooks", json=hook_body).json()
    assert {camel(key) for key in reference} == set(hook.json())

    core = camel_api.post("/cores", json=CORE).json()
    listed = camel_api.get("/cores").json()
    assert set(listed) >= {"Cores", "Count"} and listed["Cores"] == [core]  # envelope as the reference
    repo = camel_api.post(
        "/repositories",
        json={
            "RemoteURL": "https://github.com/acme/app",
            "Commit": "HEAD",
            "Branch": "main",
            "BuildDirectory": "src",
            "Core": core["coreId"],
        },
    ).json()
    patched = camel_api.patch(f"/repositories/{repo['repositoryId']}", json={"Commit": "abc"})
    assert patched.json()["commit"] == "abc" and patched.json()["remoteUrl"] == repo["remoteUrl"]


def test_unknown_casing_is_refused() -> None:
    with pytest.raises(ValueError, match="casing must be one of pascal, camel"):
        create_app(casing="snake")
