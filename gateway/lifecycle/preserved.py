"""Preserved copies (docs/PROTOCOL.md §9.1, §16.2): with the ``sql`` source, what a granted hold keeps.

The platform's own retention deletes IP sessions after a short while; a hold asks that they be kept.
When a hold is granted, :class:`PreservedCopies` reads each held subject's data in the *held window*
(everything up to the grant's second, :data:`HELD_FROM` to the grant) from the platform's database and
seals it into the gateway's encrypted store, in the grant's own transaction (a source that cannot
answer refuses the grant before anything is written, and the hold stays PENDING).

While a hold naming the subject is active, :class:`PreservingSource` serves reads of the held window
from the copy: an event that began before the grant comes from the copy, one that began at or after
it from the platform, so the platform deleting its rows after the grant changes no answer. Selectors
are still resolved by the platform. When no active hold names the subject, retention deletes the copy
(:func:`gateway.lifecycle.retention.run_retention` with ``copies_only``).

The store is touched through :func:`store_copy` and :func:`drop_copy` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection

from gateway.store.engine import Database
from gateway.subjects.parsing import device_of, ip_event_of, username_record_of
from gateway.subjects.record import FieldValue, SubjectRecord
from gateway.subjects.source import SubjectSource, Window, resolve_all
from gateway.subjects.store import SubjectStore
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.ids import SubjectId
from gateway.values.selector import Selector
from gateway.values.times import parse_time

__all__ = ["HELD_FROM", "PreservedCopies", "PreservingSource", "drop_copy", "held_instant", "store_copy"]

HELD_FROM: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a held window starts: a hold keeps everything the platform holds about its subjects."""

HeldSince = Callable[[datetime], dict[str, datetime]]
"""The subjects of the holds active at a time, each with the latest grant among them (its copy's edge)."""


def held_instant(now: datetime) -> datetime:
    """The grant's time as the hold's row keeps it (whole seconds): the copy ends exactly there."""
    return datetime.fromtimestamp(int(now.timestamp()), UTC)


def store_copy(store: SubjectStore, conn: Connection, record: SubjectRecord) -> None:
    """Seal ``record`` as its subject's preserved copy, in ``conn``'s transaction."""
    store.write_copy(conn, record)


def drop_copy(store: SubjectStore, conn: Connection, subject_id: str) -> bool:
    """Delete a subject's preserved copy, in ``conn``'s transaction; whether there was one."""
    return store.delete(conn, subject_id)


def _start(item: dict[str, str | int]) -> datetime:
    start = item.get("first_seen", item.get("from"))
    return parse_time(str(start))


def _merged(old: Iterable[dict[str, str | int]], new: Iterable[dict[str, str | int]]) -> list[dict[str, str | int]]:
    """Both lists' events once each, in the order of their start (a stable merge: ties keep old first)."""
    seen: set[tuple[tuple[str, str | int], ...]] = set()
    merged: list[dict[str, str | int]] = []
    for item in [*old, *new]:
        key = tuple(sorted(item.items()))
        if key not in seen:
            seen.add(key)
            merged.append(item)
    return sorted(merged, key=_start)


class PreservedCopies:
    """Reads held subjects from the platform and keeps them in the embedded store."""

    def __init__(self, db: Database, source: SubjectSource, store: SubjectStore) -> None:
        self.db = db
        self.source = source
        self.store = store

    def read(self, subject_ids: Sequence[str], held_at: datetime) -> list[SubjectRecord]:
        """Each subject's data in the held window ending at ``held_at``, merged with a copy an earlier
        hold keeps (what the platform deleted since stays). A subject the platform no longer has is
        left out. Raises ``SourceUnavailable`` when the source cannot answer: nothing is written then."""
        window: Window = (HELD_FROM, held_at)
        records: list[SubjectRecord] = []
        for subject_id in subject_ids:
            values = {field: self.source.read_field(subject_id, field, window) for field in SUBJECT_FIELDS}
            phone = values["phoneNumber"]
            if not isinstance(phone, str):
                continue
            earlier = self.store.get(subject_id)

            def listed(field: str, values: dict[str, FieldValue | None] = values,
                       earlier: SubjectRecord | None = earlier) -> list[dict[str, str | int]]:
                fresh = values[field]
                old = earlier.field_value(field) if earlier is not None else []
                return _merged(old if isinstance(old, list) else [], fresh if isinstance(fresh, list) else [])

            history = tuple(username_record_of(u, f"usernameHistory[{i}]")
                            for i, u in enumerate(listed("usernameHistory")))
            current = [u.username for u in history if u.until is None]
            records.append(SubjectRecord(
                id=SubjectId(subject_id),
                # Not a §4 field: a copy's username and creation time are never disclosed or indexed.
                username=current[-1] if current else "",
                phone=phone,
                created_at=held_at,
                ip_events=tuple(ip_event_of(e, f"ipAddresses[{i}]") for i, e in enumerate(listed("ipAddresses"))),
                devices=tuple(device_of(d, f"devices[{i}]") for i, d in enumerate(listed("devices"))),
                username_history=history))
        return records

    def write(self, conn: Connection, records: Iterable[SubjectRecord]) -> None:
        for record in records:
            store_copy(self.store, conn, record)

    def drop_unheld(self, subject_ids: Iterable[str], held: dict[str, datetime]) -> None:
        """Delete the copies of those subjects no active hold names (a grant undone)."""
        with self.db.session() as session:
            for subject_id in subject_ids:
                if subject_id not in held:
                    drop_copy(self.store, session.connection(), subject_id)


class PreservingSource:
    """A :class:`~gateway.subjects.source.SubjectSource`: the platform's database, except that a
    subject under an active hold is read from its preserved copy for the held window."""

    def __init__(self, platform: SubjectSource, store: SubjectStore, held_since: HeldSince,
                 clock: Callable[[], datetime]) -> None:
        self.platform = platform
        self.store = store
        self.held_since = held_since
        self.clock = clock  # services replaces it with its own, which tests move

    def _copy(self, subject_id: str) -> tuple[SubjectRecord, datetime] | None:
        # The store first: one indexed lookup answers most reads (no copy), where the holds cost more.
        record = self.store.get(subject_id)
        if record is None:
            return None
        edge = self.held_since(self.clock()).get(subject_id)
        return None if edge is None else (record, edge)

    def exists(self, subject_id: str) -> bool:
        return self._copy(subject_id) is not None or self.platform.exists(subject_id)

    def resolve(self, selector: Selector, *, ids_must_exist: bool = True) -> str | None:
        if selector.kind == "id":
            return selector.value if not ids_must_exist or self.exists(selector.value) else None
        return self.platform.resolve(selector, ids_must_exist=ids_must_exist)

    def resolve_all(self, selectors: Iterable[Selector]) -> tuple[list[str], int]:
        return resolve_all(self, selectors)

    def read_field(self, subject_id: str, field: str, window: Window) -> FieldValue | None:
        copy = self._copy(subject_id) if field in SUBJECT_FIELDS else None
        if copy is None:
            return self.platform.read_field(subject_id, field, window)
        record, edge = copy
        kept = record.field_value(field, window)
        if field == "phoneNumber" or not isinstance(kept, list):
            return kept
        if window[1] <= edge:
            return kept
        # Past the grant the platform still has what began there; what began before is the copy's.
        fresh = self.platform.read_field(subject_id, field, window)
        later = [item for item in fresh if _start(item) >= edge] if isinstance(fresh, list) else []
        return kept + later
