"""Live ingestion into the embedded store (docs/PROTOCOL.md §9.3): ``upsert`` of whole subjects and
``append-events`` of single sightings, line by line, committed in batches.

Each line is applied whole or not at all, and a refused line does not stop the others: it is
reported by number with the reason (naming the field, never the value). Everything that can be done
outside a transaction is (parsing, sealing, blind indexes), so that a batch's transaction holds
SQLite's one write lock only to check and write; between batches a running gateway's audit writer
and its readers go on. A batch that meets a row written meanwhile by someone else (an
``IntegrityError``) is rolled back to its savepoint and its lines applied one by one, each under a
savepoint of its own, so that only the clashing line is refused.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any, Final, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from gateway.errors import SubjectLineError
from gateway.keys.vault import Vault
from gateway.subjects.events import OPEN, EventRow, event_row
from gateway.subjects.normalise import normalise_username
from gateway.subjects.parsing import EventLine, parse_event_line, parse_subject_line
from gateway.subjects.pipeline import Workers
from gateway.subjects.record import Device, IpEvent, UsernameRecord
from gateway.subjects.store import HEAD, LEGACY, PreparedSubject, SubjectStore, prepare_subject
from gateway.values.ids import SubjectId
from gateway.values.times import epoch_micros, format_time, parse_time

__all__ = ["BATCH_LINES", "IngestReport", "Ingestion", "Line", "Reject"]

BATCH_LINES: Final = 1000
"""Lines per transaction: a batch holds SQLite's write lock for a few milliseconds."""

Line = str | SubjectLineError
"""A line as read, or the reader's refusal of it (too long, say) with its number and reason."""
Reject = Callable[[int, str], None]
"""Told each refused line: its number and the reason."""

UNKNOWN_SUBJECT: Final = "field 'subject': no subject has this id"
CONCURRENT: Final = "the line clashes with a row another writer stored meanwhile; send it again"

T = TypeVar("T")


@dataclass
class IngestReport:
    applied: int = 0
    rejected: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Lines applied per second."""
        return self.applied / self.seconds if self.seconds > 0 else float("inf")

    def as_json(self) -> dict[str, Any]:
        return {"applied": self.applied, "rejected": self.rejected, "seconds": round(self.seconds, 3),
                "rate": round(self.rate, 1) if self.seconds > 0 else None}


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class Ingestion:
    """``upsert`` and ``append-events`` over one :class:`SubjectStore`."""

    def __init__(self, store: SubjectStore, *, batch_size: int = BATCH_LINES, workers: int = 0) -> None:
        """``workers``: processes that parse and seal ``upsert`` lines while this one writes
        (:mod:`gateway.subjects.pipeline`); 0 does everything here."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if workers < 0:
            raise ValueError("workers must not be negative")
        self._store = store
        self._batch_size = batch_size
        self._workers = workers

    # -- upsert -------------------------------------------------------------------------------

    def upsert_lines(self, lines: Iterable[Line], *, reject: Reject,
                     progress: Callable[[IngestReport], None] | None = None) -> IngestReport:
        """Apply JSON Lines subjects (§9 shape), idempotent by ``id``: a new subject is stored
        whole; a stored one gets the line's phone, username and created_at and the history it does
        not have. A line whose phone or username is another subject's is refused."""
        report = IngestReport()
        started = time.perf_counter()
        # closing: a write that raises ends the workers at once, not when the generator is collected.
        with closing(self._prepared_batches(_batches(enumerate(lines, start=1), self._batch_size))) as batches:
            for prepared, bad in batches:
                applied, refused = self._write(prepared, self._upsert_batch, self._upsert_one)
                self._tally(report, applied, bad | refused, reject, started, progress)
        report.seconds = time.perf_counter() - started
        return report

    def _prepared_batches(self, batches: Iterable[list[tuple[int, Line]]]
                          ) -> Generator[tuple[list[PreparedSubject], dict[int, str]]]:
        """Each batch's prepared subjects and refused lines, in order: from the workers, or made here."""
        if not self._workers:
            yield from map(self._prepare_here, batches)
            return
        with Workers(self._workers, partial(_prepared_lines, self._store.vault)) as workers:
            yield from _from_workers(workers.map(batches, _texts))

    def _prepare_here(self, batch: list[tuple[int, Line]]) -> tuple[list[PreparedSubject], dict[int, str]]:
        prepared: list[PreparedSubject] = []
        bad: dict[int, str] = {}
        for line_number, line in batch:
            try:
                if isinstance(line, SubjectLineError):
                    raise line
                prepared.append(self._store.prepare(parse_subject_line(line, line_number), line_number))
            except SubjectLineError as exc:
                bad[line_number] = exc.reason
        return prepared, bad

    def _upsert_batch(self, conn: Connection, batch: Sequence[PreparedSubject]) -> dict[int, str]:
        store = self._store
        refused: dict[int, str] = {}
        stored = store.stored_ids(conn, (p.subject_id for p in batch))
        owners: dict[tuple[str, bytes], str] = {}
        for kind, attribute in (("phone", "phone_digest"), ("username", "username_digest")):
            found = store.digest_owners(conn, kind, (getattr(p, attribute) for p in batch))
            owners |= {(kind, digest): owner for digest, owner in found.items()}
        pending: list[PreparedSubject] = []
        # What the pending (not yet inserted) lines claim: a later line that shares one waits for them.
        pending_keys: set[tuple[str, bytes] | str] = set()

        def flush() -> None:
            store.insert_new(conn, pending)
            stored.update({p.subject_id: HEAD for p in pending})
            pending.clear()
            pending_keys.clear()

        for p in batch:
            subject_id = p.subject_id
            keys = (("phone", p.phone_digest), ("username", p.username_digest))
            if subject_id in pending_keys or any(key in pending_keys for key in keys):
                flush()
            if subject_id in stored:
                reason = store.upsert(conn, p)
            else:
                reason = next((f"field '{kind}' is already used by another subject" for kind, digest in keys
                               if owners.get((kind, digest), subject_id) != subject_id), None)
                if reason is None:
                    pending.append(p)
                    pending_keys.update((subject_id, *keys))
            if reason is not None:
                refused[p.line_number] = reason
                continue
            for key in keys:
                owners[key] = subject_id
        flush()
        return refused

    def _upsert_one(self, conn: Connection, p: PreparedSubject) -> str | None:
        return self._store.upsert(conn, p)

    # -- append-events ------------------------------------------------------------------------

    def append_lines(self, lines: Iterable[Line], *, reject: Reject,
                     progress: Callable[[IngestReport], None] | None = None) -> IngestReport:
        """Apply ``append-events`` lines: an IP sighting is a new event (first = last = seen); a
        device sighting widens the subject's event of that device (or starts one); a username line
        ends the current username at ``seen`` and starts the new one. A line about a subject the
        store does not hold is refused."""
        report = IngestReport()
        started = time.perf_counter()
        for batch in _batches(enumerate(lines, start=1), self._batch_size):
            parsed: list[tuple[EventLine, dict[str, Any] | None]] = []
            bad: dict[int, str] = {}
            for line_number, line in batch:
                try:
                    if isinstance(line, SubjectLineError):
                        raise line
                    event = parse_event_line(line, line_number)
                except SubjectLineError as exc:
                    bad[line_number] = exc.reason
                    continue
                # An IP sighting's row is sealed here, outside the transaction.
                sealed = _sighting(event).sealed(self._store.vault, event.subject) if event.kind == "ip" else None
                parsed.append((event, sealed))
            # Which subjects are stored is read before the write lock is taken: a writer that deletes
            # one of them meanwhile makes its rows fail their foreign key, and the batch is applied
            # line by line, each line looking again inside the transaction (_append_one).
            stored = self._stored_subjects(parsed)
            applied, refused = self._write(parsed, partial(self._append_batch, stored=stored), self._append_one)
            self._tally(report, applied, bad | refused, reject, started, progress)
        report.seconds = time.perf_counter() - started
        return report

    def _stored_subjects(self, batch: Sequence[tuple[EventLine, dict[str, Any] | None]]) -> dict[str, int]:
        if not batch:
            return {}
        with self._store.db.reads() as conn:
            return self._store.stored_ids(conn, (event.subject for event, _ in batch))

    def _append_batch(self, conn: Connection, batch: Sequence[tuple[EventLine, dict[str, Any] | None]], *,
                      stored: dict[str, int]) -> dict[int, str]:
        refused: dict[int, str] = {}
        for subject_id, layout in stored.items():
            if layout == LEGACY:
                self._store.convert(conn, subject_id)
        rows = []
        for event, sealed in batch:
            if event.subject not in stored:
                refused[event.line_number] = UNKNOWN_SUBJECT
            elif sealed is not None:
                rows.append(sealed)
            else:
                try:
                    self._apply_event(conn, event)
                except SubjectLineError as exc:
                    refused[event.line_number] = exc.reason
        self._store.insert_events(conn, rows)
        return refused

    def _append_one(self, conn: Connection, item: tuple[EventLine, dict[str, Any] | None]) -> str | None:
        event, sealed = item
        layout = self._store.stored_ids(conn, [event.subject]).get(event.subject)
        if layout is None:
            return UNKNOWN_SUBJECT
        if layout == LEGACY:
            self._store.convert(conn, event.subject)
        try:
            if sealed is not None:
                self._store.insert_events(conn, [sealed])
            else:
                self._apply_event(conn, event)
        except SubjectLineError as exc:
            return exc.reason
        return None

    def _apply_event(self, conn: Connection, event: EventLine) -> None:
        """A device sighting or a username change (rare beside IP sightings, so one at a time)."""
        store = self._store
        if isinstance(event.event, Device):
            seen = epoch_micros(event.seen)
            for row_id, first, last, value in store.event_rows(conn, event.subject, "device"):
                if all(value.get(k) == v for k, v in event.event.to_json().items()
                       if k not in ("first_seen", "last_seen")):
                    start, end = min(first, seen), max(last, seen)
                    widened = dataclasses.replace(
                        event.event,
                        first_seen=event.seen if seen < first else parse_time(value["first_seen"]),
                        last_seen=event.seen if seen > last else parse_time(value["last_seen"]))
                    if (start, end) != (first, last):
                        store.replace_event(conn, row_id, event.subject, event_row(widened))
                    return
            store.insert_events(conn, [event_row(event.event).sealed(store.vault, event.subject)])
            return
        assert isinstance(event.event, UsernameRecord)
        self._change_username(conn, event, event.event)

    def _change_username(self, conn: Connection, event: EventLine, new: UsernameRecord) -> None:
        store = self._store
        head = store.head(conn, event.subject)
        assert head is not None  # the batch checked it is stored, inside this transaction
        if head.username == new.username:
            return  # already the current one: nothing to do
        digest = store.vault.blind_index("username", normalise_username(new.username))
        owner = store.digest_owners(conn, "username", [digest]).get(digest)
        if owner is not None and owner != event.subject:
            raise SubjectLineError(event.line_number, "field 'username' is already used by another subject")
        seen = epoch_micros(event.seen)
        current = [(row_id, first, value) for row_id, first, last, value in
                   store.event_rows(conn, event.subject, "username") if last == OPEN]
        if any(first > seen for _, first, _ in current):
            raise SubjectLineError(event.line_number, "field 'seen' is before the current username's start")
        for row_id, first, value in current:
            store.replace_event(conn, row_id, event.subject,
                                EventRow("username", first, seen, {**value, "until": format_time(event.seen)}))
        store.insert_events(conn, [event_row(new).sealed(store.vault, event.subject)])
        store.set_head(conn, dataclasses.replace(head, username=new.username))

    # -- batches ------------------------------------------------------------------------------

    def _write(self, items: Sequence[T], whole: Callable[[Connection, Sequence[T]], dict[int, str]],
               one: Callable[[Connection, T], str | None]) -> tuple[int, dict[int, str]]:
        """Apply ``items`` in one transaction: all at once under a savepoint, or, when that meets a
        row written meanwhile, one by one under a savepoint each. Returns how many were applied
        and the refused lines' reasons."""
        if not items:
            return 0, {}
        with self._store.db.writes() as conn:
            try:
                with conn.begin_nested():
                    refused = whole(conn, items)
            except IntegrityError:
                refused = {}
                for item in items:
                    number = _line_number(item)
                    try:
                        with conn.begin_nested():
                            reason = one(conn, item)
                            if reason is not None:
                                refused[number] = reason
                    except IntegrityError:
                        refused[number] = CONCURRENT
        return len(items) - len(refused), refused

    @staticmethod
    def _tally(report: IngestReport, applied: int, refused: dict[int, str], reject: Reject, started: float,
               progress: Callable[[IngestReport], None] | None) -> None:
        for number in sorted(refused):
            reject(number, refused[number])
        report.applied += applied
        report.rejected += len(refused)
        report.seconds = time.perf_counter() - started
        if progress is not None:
            progress(report)


# -- upsert in worker processes -----------------------------------------------------------------

Prepared = tuple[int, str] | tuple[int, str, bytes, bytes, bytes, list[dict[str, Any]]]
"""A worker's answer for one line: its refusal (number, reason), or the fields of its
:class:`PreparedSubject` but the source, which is the line this process still holds. Plain tuples:
pickling the dataclasses whole, records and datetimes included, cost more than preparing them."""


def _texts(batch: list[tuple[int, Line]]) -> list[tuple[int, str]]:
    """What a worker is sent of a batch: the lines that were read (the reader's refusals stay here)."""
    return [(number, line) for number, line in batch if not isinstance(line, SubjectLineError)]


def _prepared_lines(vault: Vault, lines: list[tuple[int, str]]) -> list[Prepared]:
    """In a worker: each line parsed, sealed and indexed as :meth:`SubjectStore.prepare` does, or refused."""
    answers: list[Prepared] = []
    for number, text in lines:
        try:
            p = prepare_subject(vault, parse_subject_line(text, number), number)
        except SubjectLineError as exc:
            answers.append((number, exc.reason))
            continue
        answers.append((number, p.subject_id, p.head, p.phone_digest, p.username_digest, p.events))
    return answers


def _from_workers(answered: Iterable[tuple[list[tuple[int, Line]], list[Prepared]]]
                  ) -> Iterator[tuple[list[PreparedSubject], dict[int, str]]]:
    for batch, answers in answered:
        bad = {number: line.reason for number, line in batch if isinstance(line, SubjectLineError)}
        texts = dict(batch)
        prepared: list[PreparedSubject] = []
        for answer in answers:
            if len(answer) == 2:
                bad[answer[0]] = answer[1]
            else:
                number, subject_id, head, phone, username, events = answer
                text = texts[number]
                assert isinstance(text, str)
                prepared.append(PreparedSubject(number, SubjectId(subject_id), head, phone, username, events, text))
        yield prepared, bad


def _line_number(item: object) -> int:
    if isinstance(item, PreparedSubject):
        return item.line_number
    assert isinstance(item, tuple)
    event = item[0]
    assert isinstance(event, EventLine)
    return event.line_number



def _sighting(event: EventLine) -> EventRow:
    """:func:`event_row` of an IP sighting (first = last = seen), its time converted and formatted once:
    the per-line path of ``append-events``."""
    assert isinstance(event.event, IpEvent)
    at, text = epoch_micros(event.seen), format_time(event.seen)
    value: dict[str, Any] = {"ip": event.event.ip}
    if event.event.port is not None:
        value["port"] = event.event.port
    value["first_seen"] = value["last_seen"] = text
    return EventRow("ip", at, at, value)
