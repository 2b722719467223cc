"""A subject's history as rows of ``subject_events``: one sealed row per IP event, device and
username record, found by (subject, kind, time) so that a window's read and a retention cutoff's
delete touch only their rows.

An event spans [first_seen, last_seen] and overlaps a window [from, until) iff first_seen < until
and last_seen >= from (:func:`gateway.subjects.record.overlaps`). One index over (subject, kind,
first_seen) cannot bound both ends: an event that began long before the window may still overlap
it. So each row carries its ``span`` class, how long it lasted rounded up to one of
:data:`SPAN_BOUNDS`, and a window is one index range per class: events of class c that overlap the
window began at most ``SPAN_BOUNDS[c]`` before it. A login's sighting (first = last) is class 0,
whose range is exactly the window; only open-ended usernames and events longer than a year fall in
the last class, whose range starts at the beginning of the subject's history.

Each row's plaintext is its §4 value (``IpEvent.to_json`` and the like), so a disclosure opens the
row and answers what it holds, and the AEAD context (:func:`~gateway.keys.contexts.subject_event_context`)
binds the row to its subject, its kind and the times its columns say.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import CompoundSelect, Table, bindparam, union_all

from gateway.errors import StoreIntegrityError
from gateway.keys.contexts import subject_event_context
from gateway.keys.vault import Vault
from gateway.subjects.record import Device, IpEvent, SubjectRecord, UsernameRecord, encode_document
from gateway.values.times import epoch_micros

__all__ = ["FIELD_KINDS", "KINDS", "OPEN", "SPAN_BOUNDS", "EventRow", "encode_value", "event_row", "open_rows",
           "record_rows", "span_class", "window_bounds", "window_statement"]

KINDS: Final = ("ip", "device", "username")
FIELD_KINDS: Final = {"ipAddresses": "ip", "devices": "device", "usernameHistory": "username"}
"""The list fields of docs/PROTOCOL.md §4 and the kind of row each is read from."""

OPEN: Final = 2**62
"""``last_seen`` of an open-ended username (no ``until``): after every real time."""

_US = timedelta(microseconds=1)
SPAN_BOUNDS: Final = tuple(bound // _US for bound in (
    timedelta(0), timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32),
    timedelta(days=367)))
"""Upper bounds (microseconds) of the span classes 0…5; class 6 is anything longer, or open-ended."""
_UNBOUNDED: Final = len(SPAN_BOUNDS)


def span_class(first_seen: int, last_seen: int) -> int:
    """The class of an event lasting from ``first_seen`` to ``last_seen`` (microseconds)."""
    length = last_seen - first_seen
    for index, bound in enumerate(SPAN_BOUNDS):
        if length <= bound:
            return index
    return _UNBOUNDED


def encode_value(value: dict[str, Any]) -> bytes:
    """The bytes a row seals: its §4 value as compact JSON with sorted keys (the encoding of a
    document, :func:`~gateway.subjects.record.encode_document`)."""
    return encode_document(value)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One row to store: its kind, times (microseconds) and §4 value."""

    kind: str
    first_seen: int
    last_seen: int
    value: dict[str, Any]

    def sealed(self, vault: Vault, subject_id: str) -> dict[str, Any]:
        """The row's column values for ``subject_id``, its value sealed under its context."""
        return {"subject_id": subject_id, "kind": self.kind, "span": span_class(self.first_seen, self.last_seen),
                "first_seen": self.first_seen, "last_seen": self.last_seen,
                "sealed": vault.seal(encode_value(self.value), context=subject_event_context(
                    subject_id, self.kind, self.first_seen, self.last_seen))}


def event_row(event: IpEvent | Device | UsernameRecord) -> EventRow:
    """The row of one event of a record."""
    if isinstance(event, IpEvent):
        return EventRow("ip", epoch_micros(event.first_seen), epoch_micros(event.last_seen), event.to_json())
    if isinstance(event, Device):
        return EventRow("device", epoch_micros(event.first_seen), epoch_micros(event.last_seen), event.to_json())
    until = OPEN if event.until is None else epoch_micros(event.until)
    return EventRow("username", epoch_micros(event.from_), until, event.to_json())


def record_rows(record: SubjectRecord) -> Iterator[EventRow]:
    """Every event of ``record`` as a row, in the record's order within each kind."""
    for events in (record.ip_events, record.devices, record.username_history):
        for event in events:
            yield event_row(event)


def window_statement(table: Table) -> CompoundSelect[Any]:
    """The rows of one subject and kind that overlap a window, in the order stored: one index range
    per span class, bound by :func:`window_bounds`."""
    c = table.c
    parts = []
    for index in range(_UNBOUNDED + 1):
        where = [c.subject_id == bindparam("subject_id"), c.kind == bindparam("kind"), c.span == index,
                 c.first_seen < bindparam("until"), c.last_seen >= bindparam("from")]
        if index < _UNBOUNDED:
            where.append(c.first_seen >= bindparam(f"lo{index}"))
        parts.append(table.select().with_only_columns(c.id, c.first_seen, c.last_seen, c.sealed).where(*where))
    return union_all(*parts).order_by("id")


def window_bounds(subject_id: str, kind: str, window: tuple[datetime, datetime] | None) -> dict[str, Any]:
    """The parameters of :func:`window_statement`; ``None`` is every time there is."""
    start, until = (-OPEN, OPEN + 1) if window is None else (epoch_micros(window[0]), epoch_micros(window[1]))
    values: dict[str, Any] = {"subject_id": subject_id, "kind": kind, "from": start, "until": until}
    values.update({f"lo{index}": start - bound for index, bound in enumerate(SPAN_BOUNDS)})
    return values


def open_rows(vault: Vault, subject_id: str, kind: str,
              rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The §4 values of ``(id, first_seen, last_seen, sealed)`` rows; :class:`StoreIntegrityError`
    if one does not open under its subject, kind and times."""
    values = []
    for _id, first_seen, last_seen, sealed in rows:
        plaintext = vault.open(bytes(sealed), context=subject_event_context(subject_id, kind, int(first_seen),
                                                                              int(last_seen)))
        value = json.loads(plaintext)
        if not isinstance(value, dict):
            raise StoreIntegrityError()
        values.append(value)
    return values
