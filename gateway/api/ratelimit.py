"""Flood control for requests refused before authentication (issue 6; docs/PROTOCOL.md §6 ``RATE_LIMITED``).

Every request to ``/graphql`` is audited, also one refused for a missing or bad token, a bad method,
media type or size. Left alone, anyone could grow the log without bound. So such refusals count
against their client address in fixed windows of ``window_seconds`` (60) aligned to the clock: the
first ``limit`` refusals of an address in a window are answered and audited one by one as usual;
past that, the address's refusals are answered ``429 RATE_LIMITED`` with no entry of their own, and
each window's rate-limited requests are summarised in ONE entry (``decision: "rate_limited"``,
``code: "RATE_LIMITED"``, ``count``, ``window``, ``sources``; no principal) once the window closes.

What is limited is the *refusal*, not the address: a request from a limited address whose token
verifies is served and audited as always. Addresses are shared (NAT, a proxy in front of the
gateway): a flood from one client must not lock out an authority behind the same address, and a
verified request is accountable, so it never needs the flood's shortcut.

The addresses never leave this process: not in entries, not in log lines. A summary says how many
distinct addresses (``sources``) were limited, nothing more. Memory is bounded: at most
``max_tracked`` addresses per window; refusals from addresses beyond that share one counter.

Each gateway process keeps its own windows, so with N processes an address may make N × limit
logged refusals a window, and each process writes its own summary.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.audit.model import AuditEvent, Decision, rfc3339_us

__all__ = ["Admission", "FloodControl", "WindowSummary", "summary_event"]

_OVERFLOW = "\x00overflow"  # the shared counter once max_tracked addresses are known; no real address


@dataclass(frozen=True)
class Admission:
    """Whether a pre-authentication refusal is answered as usual (``allowed``) or with 429, and
    the window it was counted in."""

    allowed: bool
    window: tuple[datetime, datetime]
    retry_after_s: int

    def extension(self) -> dict[str, object]:
        """``extensions.audit`` of a 429: no entry of its own, and the window whose summary counts it."""
        return {"rate_limited": True,
                "summary_window": {"from": rfc3339_us(self.window[0]), "until": rfc3339_us(self.window[1])}}


@dataclass(frozen=True)
class WindowSummary:
    """One closed window's rate-limited requests."""

    start: datetime
    end: datetime
    count: int
    sources: int


def summary_event(summary: WindowSummary, now: datetime) -> AuditEvent:
    """The audit event that stands for ``summary``'s requests."""
    return AuditEvent(request_id="rl_" + secrets.token_hex(12), time=now, decision=Decision.RATE_LIMITED,
                      code="RATE_LIMITED", count=summary.count, window=(summary.start, summary.end),
                      sources=summary.sources)


class FloodControl:
    """Counts pre-authentication refusals per client address in fixed windows. Thread-safe."""

    def __init__(self, limit: int, *, window_seconds: int = 60, max_tracked: int = 100_000) -> None:
        if limit < 1 or window_seconds < 1 or max_tracked < 1:
            raise ValueError("limit, window_seconds and max_tracked must be positive")
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_tracked = max_tracked
        self._lock = threading.Lock()
        self._window: int | None = None  # start of the current window, Unix seconds
        self._refusals: dict[str, int] = {}
        self._limited = 0
        self._sources = 0
        self._closed: list[WindowSummary] = []

    def refusal(self, address: str | None, now: datetime) -> Admission:
        """Count one refusal from ``address`` at ``now``; say whether it may be answered as usual."""
        with self._lock:
            start = self._roll(now)
            key = address or "unknown"
            if key not in self._refusals and len(self._refusals) >= self.max_tracked:
                key = _OVERFLOW
            seen = self._refusals.get(key, 0) + 1
            self._refusals[key] = seen
            allowed = seen <= self.limit
            if not allowed:
                self._limited += 1
                if seen == self.limit + 1:
                    self._sources += 1
        end = start + self.window_seconds
        retry = max(1, end - int(now.timestamp()))
        return Admission(allowed, (_at(start), _at(end)), retry)

    def closed(self, now: datetime) -> list[WindowSummary]:
        """Take the summaries of windows that ended by ``now`` (each one once)."""
        with self._lock:
            self._roll(now)
            taken, self._closed = self._closed, []
        return taken

    def drain(self) -> list[WindowSummary]:
        """Take every summary, the current window's too (at shutdown)."""
        with self._lock:
            self._close_current()
            self._window = None
            taken, self._closed = self._closed, []
        return taken

    def restore(self, summary: WindowSummary) -> None:
        """Put back a summary whose entry could not be written, to be written with the next."""
        with self._lock:
            self._closed.append(summary)

    def _roll(self, now: datetime) -> int:
        start = int(now.timestamp()) // self.window_seconds * self.window_seconds
        if self._window is None:
            self._window = start
        elif start > self._window:
            self._close_current()
            self._window = start
        return self._window

    def _close_current(self) -> None:
        if self._window is not None and self._limited:
            self._closed.append(WindowSummary(_at(self._window), _at(self._window + self.window_seconds),
                                              self._limited, self._sources))
        self._refusals, self._limited, self._sources = {}, 0, 0


def _at(seconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
