"""Issue 7.6: secrets never appear. Every command (validate, plan in each format, plan --out, apply, apply
of the saved plan, drift, drift --notify to a local receiver, import, export, state list/show, schema,
destroy, --debug variants, and error paths: a rejected key, an unreachable PostgreSQL state backend) runs
as the installed script with known secret values: the three APIs' credentials, the webhook secrets the
emulator issues, tokens in a --notify URL, a DSN password. All output and every file the runs write under
the stack folder (state, journal, lock, saved plan) is searched for them. Also: plain http:// to a host
that is not loopback is refused unless ``allow_insecure_http: true``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx2
import yaml

from tests.support.cli import RECONCILER_BIN
from tests.support.reliability import combined_app, stack_doc, write_stack
from tests.support.servers import closed_port, serve_app

SIGNALOID_KEY = "sk-SIGNALOID-5f0e7d1c9b2a"
STEAMSHIP_KEY = "sk-STEAMSHIP-8a7b6c5d4e3f"
SCRAMJET_TOKEN = "tok-SCRAMJET-1a2b3c4d5e6f"
NOTIFY_PATH_TOKEN = "T0KEN-in-path-77aa"
NOTIFY_QUERY_TOKEN = "T0KEN-in-query-88bb"
NOTIFY_USER_PASSWORD = "notify-pass-99cc"
PG_PASSWORD = "pg-PASSWORD-3c2b1a"
WRONG_KEY = "sk-WRONG-0000ffff1111"


class Receiver:
    """A local webhook receiver for drift --notify."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_no_command_ever_shows_a_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    app = combined_app(
        data, signaloid_key=SIGNALOID_KEY, steamship_key=STEAMSHIP_KEY, scramjet_token=SCRAMJET_TOKEN
    )
    folder = tmp_path / "stack"
    receiver = Receiver()
    outputs: list[tuple[str, str]] = []
    with serve_app(app) as base, serve_app(receiver) as hook:
        doc = stack_doc({"cores": 2, "repositories": 2, "webhooks": 2, "workspaces": 1,
                         "package_instances": 1, "sequences": 1}, base)  # fmt: skip
        doc["providers"]["scramjet"]["hubs"]["local"]["token"] = "${env:SCRAMJET_TOKEN}"
        doc["providers"]["signaloid"]["api_key"] = "${env:SIGNALOID_API_KEY}"
        write_stack(folder, doc)
        env = {
            **{k: v for k, v in os.environ.items() if k != "FORCE_COLOR"},
            "NO_COLOR": "1",
            "SIGNALOID_API_URL": f"{base}/signaloid",
            "SIGNALOID_API_KEY": SIGNALOID_KEY,
            "STEAMSHIP_API_BASE": f"{base}/steamship/api/v1/",
            "STEAMSHIP_API_KEY": STEAMSHIP_KEY,
            "SCRAMJET_TOKEN": SCRAMJET_TOKEN,
        }

        def run(*args: Any, expect: int | tuple[int, ...] = 0, **extra_env: str) -> str:
            proc = subprocess.run(
                [str(RECONCILER_BIN), *map(str, args)],
                env={**env, **extra_env},
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=90,
                stdin=subprocess.DEVNULL,
            )
            codes = expect if isinstance(expect, tuple) else (expect,)
            output = proc.stdout + proc.stderr
            assert proc.returncode in codes, f"{args}: exit {proc.returncode}\n{output[-3000:]}"
            outputs.append((" ".join(map(str, args)), output))
            return output

        run("validate")
        run("schema")
        for fmt in ("text", "json", "markdown"):
            run("plan", "--format", fmt)
        run("--debug", "plan", "--out", "reviewed.plan")
        run("apply", "reviewed.plan")
        run("--debug", "apply", "--auto-approve")
        doc["cores"]["r-core-0"]["precision"] = 256
        write_stack(folder, doc)
        run("apply", "--auto-approve")
        run("drift", expect=0)
        notify = (
            f"http://user:{NOTIFY_USER_PASSWORD}@{hook.removeprefix('http://')}/hooks/{NOTIFY_PATH_TOKEN}"
        )
        run("drift", "--notify", f"{notify}?token={NOTIFY_QUERY_TOKEN}", expect=0)
        run("--debug", "drift", "--notify", f"{notify}?token={NOTIFY_QUERY_TOKEN}", expect=0)
        assert len(receiver.bodies) == 2, "the receiver got both reports"
        run("state", "list")
        run("state", "show", "webhooks.r-hook-0")
        run("export")
        run("--debug", "export", "--kind", "webhooks")

        # import: an object made outside, declared in the stack, recorded by id.
        with httpx2.Client(base_url=f"{base}/signaloid", headers={"Authorization": SIGNALOID_KEY}) as api:
            made = api.post(
                "/webhooks", json={"url": "https://hooks.example.com/imported", "events": ["task-status"]}
            )
            assert made.status_code == 201, made.text
            hooks = api.get("/webhooks").json()["webhooks"]
        doc["webhooks"]["imported"] = {"url": "https://hooks.example.com/imported", "events": ["task-status"]}
        write_stack(folder, doc)
        run("import", "webhooks.imported", made.json()["WebhookID"])
        run("--debug", "destroy", "--auto-approve")

        # Error paths: a rejected key, an unreachable PostgreSQL state backend.
        run("plan", expect=1, SIGNALOID_API_KEY=WRONG_KEY)
        run("--debug", "plan", expect=1, SIGNALOID_API_KEY=WRONG_KEY)
        dsn = f"postgresql://reconciler:{PG_PASSWORD}@127.0.0.1:{closed_port()}/state?connect_timeout=2"
        run("plan", expect=1, RECONCILER_STATE_BACKEND="postgres", RECONCILER_PG_DSN=dsn)
        run("--debug", "state", "list", expect=1, RECONCILER_STATE_BACKEND="postgres", RECONCILER_PG_DSN=dsn)

    webhook_secrets = [h["Secret"] for h in hooks if h.get("Secret")]
    assert len(webhook_secrets) >= 3, "the emulator issues a secret per webhook"
    secrets = [SIGNALOID_KEY, STEAMSHIP_KEY, SCRAMJET_TOKEN, NOTIFY_PATH_TOKEN, NOTIFY_QUERY_TOKEN,
               NOTIFY_USER_PASSWORD, PG_PASSWORD, WRONG_KEY, *webhook_secrets]  # fmt: skip
    written = [p for p in folder.rglob("*") if p.is_file() and "packages" not in p.relative_to(folder).parts]
    assert {p.name for p in written} >= {"state.json", "journal.jsonl", "reviewed.plan", "stack.yaml"}
    leaks = [
        f"{secret!r} in the output of `{command}`"
        for command, text in outputs
        for secret in secrets
        if secret in text
    ]
    leaks += [
        f"{secret!r} in {path.relative_to(folder)}"
        for path in written
        if path.name != "stack.yaml"
        for secret in secrets
        if secret in path.read_bytes().decode("utf-8", "replace")
    ]
    leaks += [f"{s!r} in a drift report" for body in receiver.bodies for s in secrets if s.encode() in body]
    assert leaks == [], "\n".join(leaks)
    assert len(outputs) >= 22


def test_plain_http_to_a_remote_host_needs_an_explicit_opt_in(tmp_path: Path) -> None:
    folder = tmp_path / "stack"
    folder.mkdir()
    env = {**os.environ, "NO_COLOR": "1", "SIGNALOID_API_KEY": SIGNALOID_KEY}
    env.pop("SIGNALOID_API_URL", None)
    http = {"max_retries": 0, "timeout_s": 2}

    def plan(**settings: Any) -> subprocess.CompletedProcess[str]:
        signaloid = {"url": "http://reconciler-test.invalid/api", "http": {**http, **settings}}
        doc = {"version": 1, "providers": {"signaloid": signaloid}, "webhooks": {"h": {
            "url": "https://hooks.example.com/h", "events": ["task-status"]}}}  # fmt: skip
        (folder / "stack.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        return subprocess.run(
            [str(RECONCILER_BIN), "plan", "-f", str(folder)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    refused = plan()
    assert refused.returncode == 1, refused
    assert "refusing plain http:// to reconciler-test.invalid" in refused.stderr, refused.stderr
    assert "allow_insecure_http: true" in refused.stderr
    assert SIGNALOID_KEY not in refused.stdout + refused.stderr

    allowed = plan(allow_insecure_http=True)  # the check passes; the .invalid host then cannot be reached
    assert allowed.returncode == 1, allowed
    assert "refusing" not in allowed.stderr and "Traceback" not in allowed.stderr, allowed.stderr
    assert SIGNALOID_KEY not in allowed.stdout + allowed.stderr
