"""When a failed webhook is tried again (docs/PROTOCOL.md §17.4): exponential back-off from the
attempt's time, capped, a bounded number of attempts; a computation of ``now``, never a sleep."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """``base`` seconds after the first failure, doubling after each further one, at most ``cap``;
    ``max_attempts`` in all, then the gateway gives up on the event."""

    base: float = 5.0
    cap: float = 6 * 3600.0
    max_attempts: int = 15
    jitter: float = 0.1  # up to this fraction more, fixed per event, so retries of many events spread

    def delay(self, event_id: str, failures: int) -> float:
        """The wait after the ``failures``-th failed attempt (1 for the first)."""
        if failures < 1:
            raise ValueError("failures counts from 1")
        plain = min(self.cap, self.base * 2.0 ** min(failures - 1, 60))
        # Derived from the id, not drawn: the same event waits the same, and tests can compute it.
        spread = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:2], "big") / 65535
        return min(self.cap, plain * (1 + self.jitter * spread))

    def next_attempt(self, event_id: str, failures: int, *, now: int, retry_after: int | None = None) -> int | None:
        """Unix seconds of the next attempt after ``failures`` failures at ``now``; None to give up.
        A receiver's ``Retry-After`` (seconds) is honoured when it asks for longer, up to the cap."""
        if failures >= self.max_attempts:
            return None
        wait = self.delay(event_id, failures)
        if retry_after is not None and retry_after > wait:
            wait = min(float(retry_after), self.cap)
        return now + max(1, round(wait))
