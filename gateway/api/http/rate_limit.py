"""Flood control for requests refused before authentication (issue 6; docs/PROTOCOL.md §6 ``RATE_LIMITED``).

Every request to ``/graphql`` is audited, also one refused for a missing or bad token, a bad method,
media type or size. Left alone, anyone could grow the log without bound. So such refusals count
against their client address in fixed windows of ``window_seconds`` (60) aligned to the clock: the
first ``limit`` refusals of an address in a window are answered and audited one by one as usual;
past that, the address's refusals are answered ``429 RATE_LIMITED`` with no entry of their own, but
counted in summary entries (``decision: "rate_limited"``, ``code: "RATE_LIMITED"``, ``count``,
``window``, ``sources``; no principal).

A 429 is answered only once a summary entry that counts it is durable (issue 11): a count kept in
memory until the window closed died with the process, and a SIGKILL left answered requests with
no entry. The 429s of a flood share summaries: :class:`DurableSummaries` writes at most every
``interval`` seconds (default 1) one entry for all the 429s waiting (two when they straddle a
window's end), so a flood grows the log by about one entry a second per process, never one per
request, and its 429s arrive up to a second late, which slows the flood and costs a well-behaved
client nothing.

What is limited is the *refusal*, not the address: a request from a limited address whose token
verifies is served and audited as always. Addresses are shared (NAT, a proxy in front of the
gateway): a flood from one client must not lock out an authority behind the same address, and a
verified request is accountable, so it never needs the flood's shortcut.

The addresses never leave this process: not in entries, not in log lines. A summary says how many
addresses were limited for the first time in its window since the previous summary (``sources``;
their sum over a window is its distinct limited addresses), nothing more. Memory is bounded: at most
``max_tracked`` addresses per window; refusals from addresses beyond that share one counter.

Each gateway process keeps its own windows, so with N processes an address may make N × limit
logged refusals a window, and each process writes its own summary.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.audit.model import AuditEvent, AuditReceipt, Decision
from gateway.values.ids import RATE_LIMIT_SUMMARY, new_id
from gateway.values.times import rfc3339_us

__all__ = ["Admission", "DurableSummaries", "FloodControl", "WindowSummary", "summary_event"]

_OVERFLOW = "\x00overflow"  # the shared counter once max_tracked addresses are known; no real address


@dataclass(frozen=True)
class Admission:
    """Whether a pre-authentication refusal is answered as usual (``allowed``) or with 429, and
    the window it was counted in."""

    allowed: bool
    window: tuple[datetime, datetime]
    retry_after_s: int

    def extension(self, summary_index: int | None = None) -> dict[str, object]:
        """``extensions.audit`` of a 429: no entry of its own, the window whose summaries count it and
        the index of the summary entry that does."""
        extension: dict[str, object] = {
            "rate_limited": True,
            "summary_window": {"from": rfc3339_us(self.window[0]), "until": rfc3339_us(self.window[1])}}
        if summary_index is not None:
            extension["summary_index"] = summary_index
        return extension


@dataclass(frozen=True)
class WindowSummary:
    """Rate-limited requests of one window not yet counted by an entry."""

    start: datetime
    end: datetime
    count: int
    sources: int


def summary_event(summary: WindowSummary, now: datetime) -> AuditEvent:
    """The audit event that stands for ``summary``'s requests."""
    return AuditEvent(request_id=new_id(RATE_LIMIT_SUMMARY), time=now, decision=Decision.RATE_LIMITED,
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
        # Limited requests (and newly limited addresses) not yet in an entry, by window start.
        self._pending: dict[int, tuple[int, int]] = {}

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
                count, sources = self._pending.get(start, (0, 0))
                self._pending[start] = (count + 1, sources + (1 if seen == self.limit + 1 else 0))
        end = start + self.window_seconds
        retry = max(1, end - int(now.timestamp()))
        return Admission(allowed, (_at(start), _at(end)), retry)

    def take(self) -> list[WindowSummary]:
        """Take what the limited requests counted so far add up to, per window (each one once)."""
        with self._lock:
            taken, self._pending = self._pending, {}
        return [WindowSummary(_at(start), _at(start + self.window_seconds), count, sources)
                for start, (count, sources) in sorted(taken.items())]

    def _roll(self, now: datetime) -> int:
        start = int(now.timestamp()) // self.window_seconds * self.window_seconds
        if self._window is None or start > self._window:
            self._window, self._refusals = start, {}
        return self._window


class DurableSummaries:
    """Makes the count of a 429 durable before it is answered, one summary entry for all the 429s
    that wait together. Runs on the event loop; ``append`` makes one entry durable or raises
    ``AuditUnavailable``, and the 429s it would have counted are then answered with that error."""

    def __init__(self, flood: FloodControl, append: Callable[[AuditEvent], Awaitable[AuditReceipt]],
                 clock: Callable[[], datetime], *, interval_s: float) -> None:
        self.flood = flood
        self.append = append
        self.clock = clock
        self.interval_s = interval_s
        self._next: asyncio.Future[int | None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def covering(self) -> int | None:
        """Wait until an entry counts the refusal just counted by ``flood``; return its index.

        Counting and joining the next write happen with no ``await`` between them (the caller's
        ``flood.refusal`` and this call's first step), so a refusal is always in the write it waits for."""
        if self._next is None:
            loop = asyncio.get_running_loop()
            self._next = loop.create_future()
            task = loop.create_task(self._write(self._next))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(self._next)

    async def _write(self, done: asyncio.Future[int | None]) -> None:
        await asyncio.sleep(self.interval_s)  # the flood's other 429s join this entry meanwhile
        self._next = None  # from here on, a new 429 waits for the next write
        index: int | None = None
        try:
            for summary in self.flood.take():
                index = (await self.append(summary_event(summary, self.clock()))).index
        except Exception as exc:  # AuditUnavailable, or a bug: the waiting 429s are not answered as counted
            done.set_exception(exc)
            done.exception()  # retrieved here too, so that no waiter gone meanwhile leaves it unreported
            return
        done.set_result(index)


def _at(seconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
