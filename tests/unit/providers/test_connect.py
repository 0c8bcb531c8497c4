"""The TLS context each API client gets: verifying always, built once per process."""

from __future__ import annotations

import ssl

from reconciler.providers.connect import tls_for


def test_https_endpoints_share_one_verifying_context_with_the_trust_store() -> None:
    first, second = tls_for("https://api.signaloid.io"), tls_for("https://api.steamship.com/api/v1/")
    assert first is second  # the trust store is loaded once, not once per client
    assert first.verify_mode is ssl.CERT_REQUIRED and first.check_hostname
    assert first.cert_store_stats()["x509_ca"] > 0


def test_a_plain_http_endpoint_gets_a_context_that_verifies_but_trusts_nothing() -> None:
    context = tls_for("http://127.0.0.1:8080/signaloid")
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # any https reached from it would fail


def test_plain_http_endpoints_share_one_context_too() -> None:
    """A fleet builds one client per stack: 200 contexts were 35 ms of its CPU."""
    assert tls_for("http://127.0.0.1:8080/signaloid") is tls_for("http://other.test:80")
