"""The input document holds no secret: credentials, URL user info and ${env:…} values are masked."""

from __future__ import annotations

from pathlib import Path

from reconciler.config import load_stack
from reconciler.policy.evaluate import declared_values, input_document, provider_settings

STACK = """version: 1
providers:
  signaloid: { api_key: "${env:SIG_KEY}", url: "https://user:pw@api.example.com/v1?token=abc" }
  scramjet:
    hubs:
      local: { url: "https://hub.example.com/${env:HUB_PATH}/api/v1", token: "${env:HUB_TOKEN}",
               http: { allow_insecure_http: true } }
webhooks:
  ci: { url: "https://hooks.example.com/${env:HOOK}", events: [task-status] }
cores:
  c: { class: C0, microarchitecture: Athens, precision: 128, memory_size: 256000,
       correlation_tracking: Autocorrelation }
repositories:
  r: { remote_url: https://github.com/acme/x, branch: main, commit: HEAD, build_directory: src, core: c }
"""
ENV = {
    "SIG_KEY": "sig-key-123456",
    "HUB_PATH": "path-secret-99",
    "HUB_TOKEN": "hub-token-42",
    "HOOK": "hook-77x",
}


def test_no_secret_reaches_the_input(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(STACK, encoding="utf-8")
    loaded = load_stack([tmp_path], ENV)
    providers = provider_settings(loaded.stack.providers, loaded.secret_values)
    declared = declared_values(loaded.resources)
    doc = input_document({"changes": []}, stack="s", command="plan", declared=declared, providers=providers)
    text = repr(doc)
    for secret in [*ENV.values(), "user:pw", "token=abc"]:
        assert secret not in text
    assert providers["signaloid"]["api_key"] == "(sensitive)"
    assert providers["signaloid"]["url"] == "https://api.example.com/v1?…"
    hub = providers["scramjet"]["hubs"]["local"]
    assert hub["token"] == "(sensitive)" and hub["http"]["allow_insecure_http"] is True
    assert hub["url"] == "https://hub.example.com/(sensitive)/api/v1"
    assert declared["webhooks"]["ci"]["url"] == "(sensitive)"
    assert declared["repositories"]["r"]["core"] == "cores.c"
    assert declared["cores"]["c"]["precision"] == 128
