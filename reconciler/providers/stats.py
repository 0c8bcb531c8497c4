"""Call statistics of one API client, summed per provider for the summary after apply.

Apart from ``http.py`` so that what reads them (the session, the command line) loads no HTTP library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CallStats"]


@dataclass
class CallStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 answers
    by_status: dict[int, int] = field(default_factory=dict)

    def __add__(self, other: CallStats) -> CallStats:
        statuses = dict(self.by_status)
        for status, count in other.by_status.items():
            statuses[status] = statuses.get(status, 0) + count
        return CallStats(
            self.requests + other.requests,
            self.retries + other.retries,
            self.rate_limited + other.rate_limited,
            statuses,
        )
