"""Faithful local emulators of the three APIs, one ASGI app each.

Used by ``reconciler sandbox serve``, by ``--sandbox`` (in-process, through
``httpx2.ASGITransport``), by the tests and by the benchmarks.
"""
