"""Delivering published events as Standard Webhooks (docs/PROTOCOL.md §17.4), from every serving
process at once, safely.

A delivery is claimed before it is sent: a conditional write that sets the claim's owner and lease
only where the row is still due and unclaimed (or its lease ran out), so two processes never send
the same event at the same time; on PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED``,
so processes take different rows instead of queueing on one. The outcome is written only by the
claim's owner. A process killed mid-delivery leaves its claim to run out, and the event is sent
again after a restart or by another process, with the same ``webhook-id``: a receiver that keeps
the ids it has processed handles each event once.

A ``2xx`` answer delivers; anything else (another status, a redirect, a timeout, a refused
connection) fails the attempt, and :class:`~gateway.notifications.schedule.RetryPolicy` says when
to try again, or that the gateway gives up (``failed``). ``410 Gone`` gives up at once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from nacl.signing import SigningKey
from sqlalchemy import Connection, Engine, or_, select, update

from crypto.canonical import canonical_json
from crypto.webhooks import sign_v1a
from gateway.notifications.events import DUE, Event, event_of, publish
from gateway.notifications.schedule import RetryPolicy
from gateway.store.tables import EventRow, Principal

__all__ = ["DELIVERED", "FAILED", "Attempt", "WebhookWorker", "claim_due", "record_attempt", "send", "webhook_request"]

log = logging.getLogger("gateway.notifications")

_events = EventRow.__table__  # type: ignore[attr-defined]
_principals = Principal.__table__  # type: ignore[attr-defined]
DELIVERED, FAILED = "delivered", "failed"
_CLAIM_BATCH = 20


@dataclass(frozen=True)
class Claimed:
    event: Event
    url: str | None
    attempts: int  # before this one


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: ``status`` when the receiver answered, else the error's class name."""

    status: int | None
    error: str | None = None
    retry_after: int | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else str(self.error)


def webhook_request(event: Event, signing_key: SigningKey, *, now: int) -> tuple[bytes, dict[str, str]]:
    """The exact body and the headers of ``event``'s POST at Unix time ``now``."""
    body = canonical_json(event.payload())
    return body, {"content-type": "application/json", "user-agent": "disclosure-gateway",
                  "webhook-id": event.id, "webhook-timestamp": str(now),
                  "webhook-signature": sign_v1a(signing_key, event.id, now, body)}


def claim_due(connection: Connection, *, worker: str, now: int, lease: int, limit: int = _CLAIM_BATCH) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for ``worker`` until ``now + lease``, in ``connection``'s
    transaction (commit it before sending)."""
    free = or_(_events.c.claimed_until.is_(None), _events.c.claimed_until < now)
    candidates = (select(_events.c.id).where(_events.c.delivery == DUE, _events.c.next_attempt_at <= now, free)
                  .order_by(_events.c.next_attempt_at, _events.c.feed_seq).limit(limit))
    if connection.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed: list[Claimed] = []
    for (event_id,) in list(connection.execute(candidates)):
        taken = connection.execute(update(_events).where(_events.c.id == event_id, _events.c.delivery == DUE, free)
                                   .values(claimed_by=worker, claimed_until=now + lease))
        if taken.rowcount != 1:
            continue  # another process claimed it between the read and the write
        row = connection.execute(select(_events, _principals.c.webhook_url)
                                 .join(_principals, _principals.c.id == _events.c.authority_id)
                                 .where(_events.c.id == event_id)).one()
        claimed.append(Claimed(event_of(row), row.webhook_url, int(row.attempts)))
    return claimed


def record_attempt(connection: Connection, claimed: Claimed, attempt: Attempt | None, *, worker: str, now: int,
                   policy: RetryPolicy) -> str:
    """Write what the attempt came to, if ``worker`` still holds the claim: ``delivered``, ``due``
    (to be tried again), ``failed`` (given up) or ``none`` (the authority removed its webhook:
    ``attempt`` None). ``lost`` if the claim ran out and another process took the event over."""
    attempts = claimed.attempts + (attempt is not None)
    values: dict[str, Any] = {"attempts": attempts, "claimed_by": None, "claimed_until": None}
    if attempt is None:
        values |= {"delivery": "none"}
    elif attempt.delivered:
        values |= {"delivery": DELIVERED, "delivered_at": now, "last_outcome": attempt.outcome}
    else:
        later = None if attempt.status == 410 else policy.next_attempt(
            claimed.event.id, attempts, now=now, retry_after=attempt.retry_after)
        values |= {"last_outcome": attempt.outcome}
        values |= {"delivery": FAILED} if later is None else {"next_attempt_at": later}
    written = connection.execute(update(_events).where(_events.c.id == claimed.event.id,
                                                       _events.c.claimed_by == worker).values(**values))
    if written.rowcount != 1:
        return "lost"
    return str(values.get("delivery", DUE))


def send(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
    """One POST; never raises for what the network or the receiver does."""
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Attempt(None, type(exc).__name__)
    retry_after = response.headers.get("retry-after", "")
    return Attempt(response.status_code, retry_after=int(retry_after) if retry_after.isdigit() else None)


class WebhookWorker:
    """The serving process's notifier: every ``poll`` seconds it publishes what the log now holds,
    sends the webhooks due, and every ``sweep_every`` seconds runs ``sweeps`` (the lapse sweep).
    ``tick(now)`` is one round, for tests and for the thread alike."""

    def __init__(self, engine: Engine, *, signing_key: Callable[[], SigningKey], clock: Callable[[], datetime],
                 policy: RetryPolicy, timeout: float, poll: float = 2.0,
                 sweeps: Sequence[Callable[[datetime], object]] = (), sweep_every: float = 60.0,
                 client: httpx.Client | None = None) -> None:
        self.engine = engine
        self.signing_key = signing_key
        self.clock = clock
        self.policy = policy
        self.poll = poll
        self.sweeps = tuple(sweeps)
        self.sweep_every = sweep_every
        self.lease = int(timeout) + 30
        self.worker = f"{os.getpid()}-{id(self):x}"[:64]
        # No redirects (the spec: a 3xx is a failure; the operator updates the URL instead).
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._last_sweep: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Sweep if due, publish, then send what is due; how many ended in each state."""
        now = now or self.clock()
        if self.sweeps and (self._last_sweep is None or now.timestamp() - self._last_sweep >= self.sweep_every):
            self._last_sweep = now.timestamp()
            for sweep in self.sweeps:
                sweep(now)
        with self.engine.begin() as connection:
            publish(connection, now=now)
        at = int(now.timestamp())
        with self.engine.begin() as connection:
            claimed = claim_due(connection, worker=self.worker, now=at, lease=self.lease)
        sent: list[tuple[Claimed, Attempt | None]] = []
        for item in claimed:
            attempt = None
            if item.url is not None:
                body, headers = webhook_request(item.event, self.signing_key(), now=at)
                attempt = send(self.client, item.url, body, headers)
            sent.append((item, attempt))
        counts: dict[str, int] = {}
        if not sent:
            return counts
        # One transaction (one commit, one fsync on SQLite) for the round's outcomes. A process killed
        # before it commits leaves its claims to run out, and those events are sent again, same ids.
        with self.engine.begin() as connection:
            for item, attempt in sent:
                state = record_attempt(connection, item, attempt, worker=self.worker, now=at, policy=self.policy)
                counts[state] = counts.get(state, 0) + 1
                if state == FAILED:
                    log.warning("gave up on a webhook after %d attempts (last: %s); it stays in the feed",
                                item.attempts + 1, attempt.outcome if attempt else "-")
        return counts

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                # Never an event's contents: the class of the failure only; the next poll tries again.
                log.error("webhook round failed: %s", type(exc).__name__)
            self._stop.wait(self.poll)
