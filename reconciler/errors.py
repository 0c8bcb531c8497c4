"""The one error tree of reconciler.

::

    ReconcilerError
     ├── ConfigError          the stack files are wrong (each issue has file, line and field)
     │    └── DeriveError     a kind's derived field cannot be computed (kinds/*: ``Kind.derive``)
     ├── PackageError         a sequence package cannot be packed or used (packages/pack.py)
     │    ├── ArchiveProblem  what is wrong inside a .tar.gz (packages/archive.py)
     │    └── TreeProblem     a local file or folder the stack names cannot be read (packages/tree.py)
     ├── StateError           the state store cannot be read, written or locked
     │    ├── LockHeld        another run holds the lock
     │    └── LockLost        this run's lock is gone (stop before the next write)
     ├── PlanError            a plan cannot be made (ambiguous adoption, bad reference, ...)
     │    ├── StalePlan       a saved plan no longer matches live state or the stack (deciding/saved.py)
     │    └── SelectionError  a --target/--exclude ADDR names no kind or matches nothing (deciding/select.py)
     ├── PolicyError          a policy cannot be loaded or run: it never passes a plan (policy/)
     │    └── EngineFailed    the engine's process crashed or hit a limit (policy/isolate.py)
     ├── NotifyError          a drift report could not be delivered (--notify)
     ├── MergeError           fleet shard reports cannot be merged (app/fleet/schema.py)
     │    └── ReportDefect    a file is not a valid fleet report: its path and JSON path (schema.py)
     ├── RunTimedOut          the run passed its --deadline (cli/deadline.py)
     ├── WorkerDied           a worker process exited before it answered (app/fleet/workers.py)
     └── ProviderError        talking to an API failed
          ├── CreatedUnusable the object was created but cannot work (e.g. its init failed)
          ├── ResponseTooLarge an answer past the API's body limit (providers/limits.py)
          ├── TransportError  no usable HTTP response (connect/read timeout, reset)   retryable
          │    └── UncertainOutcome  a create/update may or may not have landed (providers/http.py)
          └── ApiError        the API answered with an error status
               ├── BadRequest   400/422          ├── NotFound      404
               ├── Unauthorized 401/403          ├── Conflict      409
               ├── RateLimited  429  retryable   └── ServerError   5xx    retryable: 500/502/503/504

``retryable`` is the one retry decision: the HTTP policy retries exactly the errors that say so
(a 501 Not Implemented is a ``ServerError`` that will never succeed, so it is not retryable).

Foreign errors (httpx2, yaml, pydantic) are translated into these at one seam each
(``providers/http.py``, ``config/loader.py``, ``config/stack.py``) with ``raise … from``;
the CLI maps them to messages and exit codes and nowhere else. No message ever carries a
credential: provider errors are built from redacted request descriptions. Outside the tree on
purpose: the emulators' own errors (``reconciler/sandbox``), which become HTTP answers and never
reach a user, and ``paths.PathProblem``, an ``OSError`` that callers report as a file problem.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

__all__ = [
    "ApiError",
    "BadRequest",
    "ConfigError",
    "ConfigIssue",
    "Conflict",
    "CreatedUnusable",
    "DeriveError",
    "LockHeld",
    "LockLost",
    "NotFound",
    "PackageError",
    "PlanError",
    "PolicyError",
    "ProviderError",
    "RateLimited",
    "ReconcilerError",
    "ServerError",
    "StateError",
    "TransportError",
    "Unauthorized",
    "api_error_for_status",
    "os_error_message",
]


class ReconcilerError(Exception):
    """Base of every error the tool reports to a user as a message (never a traceback)."""

    retryable: bool = False


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in the stack files, located as precisely as we can."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    field: str | None = None  # dotted path, e.g. "cores.fast-athens.precision"

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


# Issues listed in one message at most: 10,000 bad resources must not print megabytes.
MAX_ISSUES_SHOWN = 50


class ConfigError(ReconcilerError):
    def __init__(self, issues: list[ConfigIssue] | ConfigIssue) -> None:
        self.issues = [issues] if isinstance(issues, ConfigIssue) else list(issues)
        super().__init__("\n".join(self.shown()))

    def shown(self) -> list[str]:
        """The issues as lines, the first ``MAX_ISSUES_SHOWN``, then how many more."""
        lines = [str(i) for i in self.issues[:MAX_ISSUES_SHOWN]]
        if len(self.issues) > MAX_ISSUES_SHOWN:
            lines.append(f"… and {len(self.issues) - MAX_ISSUES_SHOWN:,} more ({len(self.issues):,} in all)")
        return lines


class DeriveError(ConfigError):
    """A problem found by ``Kind.derive``: ``message`` says it, ``field`` is the user's field it is
    about, if one. The loader places it at that field's file and line."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(ConfigIssue(message, field=field))


class PackageError(ReconcilerError):
    """A sequence package cannot be packed or used; the message says what to fix."""


class StateError(ReconcilerError):
    pass


class LockHeld(StateError):
    pass


class LockLost(StateError):
    """This run held the state lock and no longer does (lock directory replaced, database
    session gone): it must stop before its next state write."""


class PlanError(ReconcilerError):
    pass


class PolicyError(ReconcilerError):
    """A policy file cannot be read or parsed, a rule failed, or the engine crashed or hit a
    limit: the plan is not judged, so it is not passed (policies fail closed)."""


class ProviderError(ReconcilerError):
    pass


class TransportError(ProviderError):
    retryable = True


class CreatedUnusable(ProviderError):
    """A create that left an object behind which cannot work (a failed initialisation).

    ``obj`` is the object (a ``LiveObject``): the applier records it in state, so the stack owns
    it and the next plan replaces (or deletes) it instead of leaving it unmanaged.
    """

    def __init__(self, message: str, obj: object) -> None:
        super().__init__(message)
        self.obj = obj


class ApiError(ProviderError):
    """The API answered with an error status. ``call`` is e.g. ``"signaloid POST /cores"``."""

    def __init__(self, status: int, message: str, call: str) -> None:
        self.status = status
        self.message = message
        self.call = call
        super().__init__(f"{call} failed with HTTP {status}: {message}")


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class RateLimited(ApiError):
    retryable = True

    def __init__(self, status: int, message: str, call: str, retry_after: float | None = None) -> None:
        super().__init__(status, message, call)
        self.retry_after = retry_after


# 5xx answers that may succeed if asked again; the others (501 Not Implemented, 505, 507, …) will not.
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})


class ServerError(ApiError):
    def __init__(self, status: int, message: str, call: str) -> None:
        super().__init__(status, message, call)
        self.retryable = status in RETRYABLE_SERVER_STATUSES


def api_error_for_status(status: int, message: str, call: str, retry_after: float | None = None) -> ApiError:
    if status == 429:
        return RateLimited(status, message, call, retry_after)
    if status >= 500:
        return ServerError(status, message, call)
    cls = {
        400: BadRequest,
        422: BadRequest,
        401: Unauthorized,
        403: Unauthorized,
        404: NotFound,
        409: Conflict,
    }
    return cls.get(status, ApiError)(status, message, call)


def os_error_message(exc: OSError) -> str:
    """One line for a file system error: the file, the reason, and the likely cause."""
    read_only = " (is the folder read-only? state, lock and journal live in .reconciler/ beside the stack)"
    hint = {
        errno.EACCES: read_only,
        errno.EPERM: read_only,
        errno.EROFS: " (a read-only file system)",
        errno.ENOSPC: " (the disk is full)",
    }.get(exc.errno or 0, "")
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}{hint}"
