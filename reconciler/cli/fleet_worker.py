"""A worker process of ``drift --stacks --workers N`` and ``watch --workers N``
(``app/fleet/workers.py``): jobs on stdin, answers on stdout, until stdin closes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from reconciler.app.fleet.workers import FleetShare, Handler, serve
from reconciler.cli.common import collect_garbage_less


def main() -> None:
    """Answers go to the original stdout; anything else printed there (a library's stray print)
    goes to stderr instead of into an answer. SIGINT and SIGTERM are ignored: the parent ends
    the work by closing stdin (``app/fleet/workers.py``)."""
    from reconciler.app.watch.remote import WatchChecks

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    collect_garbage_less()  # as every command does
    handlers: dict[str, Handler] = {"fleet": FleetShare(), "watch": WatchChecks()}
    asyncio.run(serve(handlers, answers))


if __name__ == "__main__":
    main()
