"""Recording an event in the transaction of the change it announces, and publishing it.

:func:`record_event` is the one call a state change makes (docs/PROTOCOL.md §17.4). It adds a row to
the ``events`` outbox in the caller's transaction, so the event exists exactly when the change
committed. An event that may happen once to its order or request (:mod:`gateway.notifications.kinds`)
carries a unique key, and a second one is dropped by the database (``ON CONFLICT DO NOTHING``), so
two processes or two sweeps noticing the same lapse record it once.

:func:`publish` gives recorded events their place in the feed (``feed_seq``) and marks them due for
delivery. An event made by a request waits until that request's audit entry is in the log, served:
a change undone because its request went refused or unaudited is never announced. Places are handed
out under a compare-and-set on the ``events`` counter of ``state_versions``, so publications are
serialized and each commits places above every place committed before it: a reader who has seen
place ``n`` never later finds a new event below ``n``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.notifications.kinds import EventKind, once_key
from gateway.store.tables import AuditEntry, EventRow, Principal, StateVersion
from gateway.values.ids import EVENT, new_id
from gateway.values.times import format_time

__all__ = ["PUBLISH_BATCH", "UNAUDITED_AFTER_S", "Event", "event_of", "publish", "read_feed", "record_event"]

log = logging.getLogger("gateway.notifications")

_events = EventRow.__table__  # type: ignore[attr-defined]
_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_principals = Principal.__table__  # type: ignore[attr-defined]
_versions = StateVersion.__table__  # type: ignore[attr-defined]
_COUNTER = "events"
PUBLISH_BATCH = 500
UNAUDITED_AFTER_S = 600
"""An event whose request's entry is still not in the log after this long belongs to a change that
never got its entry (the process died between the two): it is dropped, never published."""

# Delivery states (the ``delivery`` column).
PENDING, DUE, NONE, DROPPED = "pending", "due", "none", "dropped"


@dataclass(frozen=True)
class Event:
    """One published event as the feed and the webhook carry it: ids, kind, state and time only."""

    id: str
    kind: str
    authority_id: str
    request_id: str | None
    order_id: str | None
    state: str | None
    occurred_at_us: int
    feed_seq: int

    @property
    def timestamp(self) -> str:
        """When the change happened, RFC 3339 UTC with microseconds (Standard Webhooks ``timestamp``)."""
        seconds, micros = divmod(self.occurred_at_us, 1_000_000)
        return format_time(datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros))

    def payload(self) -> dict[str, Any]:
        """The webhook body's object (docs/PROTOCOL.md §17.4)."""
        return {"type": self.kind, "timestamp": self.timestamp,
                "data": {"event_id": self.id, "authority_id": self.authority_id, "request_id": self.request_id,
                         "order_id": self.order_id, "state": self.state}}


def event_of(row: Any) -> Event:
    return Event(id=row.id, kind=row.kind, authority_id=row.authority_id, request_id=row.request_id,
                 order_id=row.order_id, state=row.state, occurred_at_us=int(row.occurred_at),
                 feed_seq=int(row.feed_seq))


def record_event(session_or_conn: Session | Connection, *, authority_id: str, kind: EventKind,
                 request_id: str | None, order_id: str | None, state: str | None, now: datetime,
                 entry: str | None = None) -> str | None:
    """Record ``kind`` for the authority in the caller's transaction; the event's id (its
    ``webhook-id``), or None when an event of a once-only kind was recorded for it already.

    ``entry`` is the request id of the audit entry of the request making the change (the event is
    published once that entry is in the log, served); None for a change made by the gateway itself
    (a sweep, or the audit writer in the entry's own transaction). ``state`` is the request's or
    order's state after the change, a status word, never free text."""
    event_id = new_id(EVENT)
    values = {"id": event_id, "authority_id": authority_id, "kind": EventKind(kind).value, "request_id": request_id,
              "order_id": order_id, "state": state, "occurred_at": _micros(now),
              "once_key": once_key(EventKind(kind), request_id=request_id, order_id=order_id), "entry": entry,
              "delivery": PENDING, "attempts": 0}
    if values["once_key"] is None:
        session_or_conn.execute(insert(_events).values(**values))
        return event_id
    dialect = (session_or_conn.get_bind() if isinstance(session_or_conn, Session) else session_or_conn).dialect.name
    upsert: Any = postgresql.insert(_events) if dialect == "postgresql" else sqlite.insert(_events)
    # RETURNING names the row inserted, on both databases; a row count is not reported alike by both drivers.
    inserted = session_or_conn.execute(upsert.values(**values).on_conflict_do_nothing(index_elements=["once_key"])
                                       .returning(_events.c.id)).scalar()
    return None if inserted is None else str(inserted)


def publish(connection: Connection, *, now: datetime, batch: int = PUBLISH_BATCH) -> int:
    """Give the recorded events whose changes the log holds their feed places, in the order they
    happened, and mark each due for delivery (or ``none`` when its authority has no webhook); drop
    those whose entry never came. Run in ``connection``'s transaction; how many were published.

    The counter's compare-and-set is the first write: a publication that lost the race to another
    process writes nothing and returns 0 (the next tick publishes what is left)."""
    served = exists().where(_entries.c.request_id == _events.c.entry, _entries.c.decision == "served")
    ready = list(connection.execute(
        select(_events.c.id, _principals.c.webhook_url)
        .join(_principals, _principals.c.id == _events.c.authority_id)
        .where(_events.c.delivery == PENDING, _events.c.feed_seq.is_(None), or_(_events.c.entry.is_(None), served))
        .order_by(_events.c.occurred_at, _events.c.id).limit(batch)))
    published = 0
    if ready:
        seen = connection.execute(select(_versions.c.version).where(_versions.c.name == _COUNTER)).scalar()
        if seen is None:
            raise RuntimeError("the database has no events counter: run `gateway init` (it migrates)")
        moved = connection.execute(update(_versions).where(_versions.c.name == _COUNTER, _versions.c.version == seen)
                                   .values(version=seen + len(ready)))
        if moved.rowcount != 1:
            return 0
        at = int(now.timestamp())
        for place, (event_id, url) in enumerate(ready, start=int(seen) + 1):
            connection.execute(update(_events).where(_events.c.id == event_id).values(
                feed_seq=place, delivery=DUE if url else NONE, next_attempt_at=at))
        published = len(ready)
    cutoff = _micros(now) - UNAUDITED_AFTER_S * 1_000_000
    dropped = connection.execute(update(_events).where(
        _events.c.delivery == PENDING, _events.c.feed_seq.is_(None), _events.c.entry.is_not(None),
        _events.c.occurred_at < cutoff, ~served).values(delivery=DROPPED))
    if dropped.rowcount:
        log.warning("%d events dropped: the requests that made their changes have no audit entry", dropped.rowcount)
    return published


def read_feed(connection: Connection, authority_id: str, *, after: int, limit: int) -> list[Event]:
    """The authority's published events past place ``after``, oldest first, at most ``limit``."""
    rows = connection.execute(
        select(_events).where(and_(_events.c.authority_id == authority_id, _events.c.feed_seq > after))
        .order_by(_events.c.feed_seq).limit(limit))
    return [event_of(row) for row in rows]


def _micros(now: datetime) -> int:
    return int(now.timestamp()) * 1_000_000 + now.microsecond
