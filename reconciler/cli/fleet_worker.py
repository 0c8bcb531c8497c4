"""A worker process of ``drift --stacks --workers N`` (``app/fleet/workers.py``): jobs on stdin,
reports on stdout, until stdin closes."""

from __future__ import annotations

import os
import sys

from reconciler.app.fleet.workers import serve
from reconciler.cli.common import collect_garbage_less


def main() -> None:
    """Reports go to the original stdout; anything else printed there (a library's stray print)
    goes to stderr instead of into a report. Ctrl-C reaches the whole process group: the parent
    reports it, the workers just stop."""
    reports = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    collect_garbage_less()  # as every command does
    try:
        serve(sys.stdin.buffer, reports)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
