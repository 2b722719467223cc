"""The encrypted subject store (the storage rules are drawn in :mod:`gateway.subjects`): a sealed head
per subject (current phone, username, created_at) under blind indexes, and its history as sealed
rows of their own (:mod:`gateway.subjects.events`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.errors import StoreIntegrityError, SubjectImportError, SubjectLineError
from gateway.keys.contexts import subject_context
from gateway.keys.vault import Vault
from gateway.store.driver_statements import DriverStatement, Prepared
from gateway.store.engine import Database
from gateway.store.tables import metadata
from gateway.subjects.events import (
    FIELD_KINDS,
    KINDS,
    OPEN,
    EventRow,
    open_rows,
    record_rows,
    window_bounds,
    window_statement,
)
from gateway.subjects.normalise import normalise_phone, normalise_username
from gateway.subjects.parsing import parse_subject_line
from gateway.subjects.record import SUBJECT_ID, FieldValue, SubjectRecord, encode_document
from gateway.subjects.source import Window, resolve_all
from gateway.values.ids import SubjectId
from gateway.values.selector import Selector
from gateway.values.times import format_time

__all__ = ["HEAD", "LEGACY", "ImportReport", "PreparedSubject", "SubjectStore", "prepare_subject"]

_BATCH_SIZE: Final = 500
HEAD: Final = 2
"""``subjects.layout`` of a head whose history is in ``subject_events``."""
LEGACY: Final = 1
"""``subjects.layout`` of a whole-history document, as written before schema revision 0009."""


@dataclass(frozen=True)
class ImportReport:
    subjects: int
    seconds: float

    @property
    def rate(self) -> float:
        """Subjects per second."""
        return self.subjects / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class PreparedSubject:
    """A record sealed and indexed, ready to be written (sealing happens outside any transaction).

    ``source`` is the record, or the line it was parsed from when it was prepared in another process
    (:mod:`gateway.subjects.pipeline`): only the update of a stored subject needs the record again,
    and parsing that line once more costs less than sending every record back whole."""

    line_number: int
    subject_id: SubjectId
    head: bytes
    phone_digest: bytes
    username_digest: bytes
    events: list[dict[str, Any]] = field(default_factory=list)
    source: SubjectRecord | str = ""

    def record(self) -> SubjectRecord:
        if isinstance(self.source, SubjectRecord):
            return self.source
        return parse_subject_line(self.source, self.line_number)

    def index_rows(self) -> list[dict[str, Any]]:
        return [{"kind": "phone", "digest": self.phone_digest, "subject_id": self.subject_id},
                {"kind": "username", "digest": self.username_digest, "subject_id": self.subject_id}]


def prepare_subject(vault: Vault, record: SubjectRecord, line_number: int = 1, *,
                    events: bool = True) -> PreparedSubject:
    """``record`` sealed (head and, with ``events``, every event) and its blind-index digests:
    :meth:`SubjectStore.prepare`."""
    return PreparedSubject(
        line_number=line_number, subject_id=record.id,
        head=vault.seal(encode_document(_head_document(record)), context=subject_context(record.id)),
        phone_digest=vault.blind_index("phone", record.phone),
        username_digest=vault.blind_index("username", normalise_username(record.username)),
        events=[row.sealed(vault, record.id) for row in record_rows(record)] if events else [], source=record)


def _head_document(record: SubjectRecord) -> dict[str, Any]:
    return {"v": HEAD, "username": record.username, "phone": record.phone,
            "created_at": format_time(record.created_at)}


class SubjectStore:
    """Encrypted subjects with blind-index lookups, over SQLAlchemy Core (the ORM is several
    times slower for bulk rows, FINDINGS.md): the ``embedded`` :class:`~gateway.subjects.source.SubjectSource`."""

    def __init__(self, db: Database, vault: Vault, *, batch_size: int = _BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._db = db
        self._vault = vault
        self._batch_size = batch_size
        self._subjects: Table = metadata.tables["subjects"]
        self._index: Table = metadata.tables["subject_index"]
        self._events: Table = metadata.tables["subject_events"]
        s = self._subjects
        self._read_sealed = Prepared(select(s.c.sealed, s.c.layout).where(s.c.id == bindparam("id")))
        self._read_index = Prepared(select(self._index.c.subject_id).where(
            self._index.c.kind == bindparam("kind"), self._index.c.digest == bindparam("digest")))
        self._read_window = Prepared(window_statement(self._events))
        self._inserts: dict[tuple[str, str], DriverStatement] = {}

    @property
    def vault(self) -> Vault:
        return self._vault

    @property
    def db(self) -> Database:
        return self._db

    # -- sealing ----------------------------------------------------------------------------

    def prepare(self, record: SubjectRecord, line_number: int = 1) -> PreparedSubject:
        """``record`` sealed (head and every event) and its blind-index digests, computed before
        any transaction opens so that writes hold the database's lock only to write."""
        return prepare_subject(self._vault, record, line_number)

    def insert_new(self, conn: Connection, batch: Sequence[PreparedSubject]) -> None:
        """Insert subjects that are not stored (the caller checked ids and digests); an
        ``IntegrityError`` if one is, by a writer that came between."""
        if not batch:
            return
        self._insert(conn, self._subjects, [{"id": p.subject_id, "sealed": p.head, "layout": HEAD} for p in batch])
        self._insert(conn, self._index, [row for p in batch for row in p.index_rows()])
        self._insert(conn, self._events, [event for p in batch for event in p.events])

    # -- import -----------------------------------------------------------------------------

    def import_lines(self, lines: Iterable[str], *,
                     progress: Callable[[int], None] | None = None) -> ImportReport:
        """Import JSON Lines subjects, all or nothing.

        Streams: lines are parsed, sealed and inserted in batches inside ONE transaction, so
        memory stays bounded by the batch. The first bad line (invalid, or a subject id, phone
        or username that an earlier line or the store already has) rolls everything back and
        raises :class:`SubjectImportError` with its line number. ``progress`` is called with the
        number of subjects written so far after each batch.

        On SQLite the open transaction holds the database's one write lock from the first batch
        to the commit, so a server running on the same file waits (and past its busy timeout
        refuses with AUDIT_UNAVAILABLE) during a long import: `gateway subjects upsert` commits
        batch by batch instead. PostgreSQL has no such coupling."""
        started = time.perf_counter()
        written = 0
        with self._db.session() as session:
            conn = session.connection()
            pending: list[PreparedSubject] = []
            # Duplicates within the pending batch; earlier batches are already rows in this
            # transaction, so the store check below sees them.
            batch_ids: dict[str, int] = {}
            batch_digests: dict[tuple[str, bytes], int] = {}
            for line_number, line in enumerate(lines, start=1):
                error: SubjectImportError | None
                try:
                    record = parse_subject_line(line, line_number)
                except SubjectLineError as exc:
                    error = SubjectImportError(exc.line_number, exc.reason)
                else:
                    prepared = self.prepare(record, line_number)
                    error = self._duplicate_in_batch(prepared, batch_ids, batch_digests)
                if error is not None:
                    # Report the FIRST bad line: an earlier pending line may clash with the store.
                    self._check_against_store(conn, pending)
                    raise error
                pending.append(prepared)
                if len(pending) >= self._batch_size:
                    written += self._flush(conn, pending)
                    pending.clear()
                    batch_ids.clear()
                    batch_digests.clear()
                    if progress is not None:
                        progress(written)
            if pending:
                written += self._flush(conn, pending)
                if progress is not None:
                    progress(written)
        return ImportReport(subjects=written, seconds=time.perf_counter() - started)

    @staticmethod
    def _duplicate_in_batch(prepared: PreparedSubject, ids: dict[str, int],
                            digests: dict[tuple[str, bytes], int]) -> SubjectImportError | None:
        n = prepared.line_number
        subject_id = prepared.subject_id
        if subject_id in ids:
            return SubjectImportError(n, f"field 'id' is the same as line {ids[subject_id]}'s")
        for kind, digest, name in (("phone", prepared.phone_digest, "phone"),
                                   ("username", prepared.username_digest, "username")):
            if (kind, digest) in digests:
                return SubjectImportError(n, f"field '{name}' is the same as line {digests[kind, digest]}'s")
        ids[subject_id] = n
        digests["phone", prepared.phone_digest] = n
        digests["username", prepared.username_digest] = n
        return None

    def stored_ids(self, conn: Connection, ids: Iterable[str]) -> dict[str, int]:
        """Which of ``ids`` are stored, with their layout."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        query = select(self._subjects.c.id, self._subjects.c.layout).where(self._subjects.c.id.in_(wanted))
        return {str(found): int(layout) for found, layout in conn.execute(query)}

    def digest_owners(self, conn: Connection, kind: str, digests: Iterable[bytes]) -> dict[bytes, str]:
        """The subject each of ``digests`` (of ``kind``) is the blind index of, where stored."""
        wanted = list(set(digests))
        if not wanted:
            return {}
        # kind = ... AND digest IN (...) so the (kind, digest) primary key serves the lookup.
        query = select(self._index.c.digest, self._index.c.subject_id).where(
            self._index.c.kind == kind, self._index.c.digest.in_(wanted))
        return {bytes(digest): str(owner) for digest, owner in conn.execute(query)}

    def _check_against_store(self, conn: Connection, pending: Sequence[PreparedSubject]) -> None:
        """Raise for the first pending line whose id, phone or username is already stored
        (earlier in this import or before it)."""
        if not pending:
            return
        clashes: dict[int, str] = {}
        by_id: dict[str, int] = {p.subject_id: p.line_number for p in pending}
        for stored in self.stored_ids(conn, by_id):
            clashes.setdefault(by_id[stored], "field 'id': a subject with this id already exists")
        for kind, attribute in (("phone", "phone_digest"), ("username", "username_digest")):
            by_digest: dict[bytes, int] = {getattr(p, attribute): p.line_number for p in pending}
            for digest in self.digest_owners(conn, kind, by_digest):
                line = by_digest[digest]
                reason = f"field '{kind}' is already used by another subject (earlier in this file or stored)"
                if line not in clashes:
                    clashes[line] = reason
        if clashes:
            first = min(clashes)
            raise SubjectImportError(first, clashes[first])

    def _flush(self, conn: Connection, batch: Sequence[PreparedSubject]) -> int:
        self._check_against_store(conn, batch)
        try:
            self.insert_new(conn, batch)
        except IntegrityError:
            # Only a concurrent writer gets past the check above. The driver's message quotes
            # the parameters, so it is not chained.
            first, last = batch[0].line_number, batch[-1].line_number
            error = SubjectImportError(first, f"a subject in lines {first}–{last} clashes with one "
                                              "stored concurrently by another import")
        else:
            return len(batch)
        raise error

    # -- writes of one subject ----------------------------------------------------------------

    def put(self, record: SubjectRecord) -> str | None:
        """Write one full subject in its own transaction: as :meth:`upsert` does (a new subject
        stored whole; a stored one gets this record's phone, username and created_at and the
        history it does not have yet). Returns ``None`` when written, else the reason it was not
        (its phone or username is another subject's), naming the field, never the value."""
        prepared = self.prepare(record)
        with self._db.writes() as conn:
            return self.upsert(conn, prepared)

    def upsert(self, conn: Connection, prepared: PreparedSubject) -> str | None:
        """:meth:`put` inside the caller's transaction; writes nothing when it returns a reason."""
        subject_id = prepared.subject_id
        for kind, digest in (("phone", prepared.phone_digest), ("username", prepared.username_digest)):
            owner = self.digest_owners(conn, kind, [digest]).get(digest)
            if owner is not None and owner != subject_id:
                return f"field '{kind}' is already used by another subject"
        layout = self.stored_ids(conn, [subject_id]).get(subject_id)
        if layout is None:
            self.insert_new(conn, [prepared])
            return None
        if layout == LEGACY:
            self.convert(conn, subject_id)
        record = prepared.record()
        conn.execute(update(self._subjects).where(self._subjects.c.id == subject_id).values(sealed=prepared.head))
        conn.execute(delete(self._index).where(self._index.c.subject_id == subject_id))
        conn.execute(insert(self._index), prepared.index_rows())
        fresh = self._history_not_stored(conn, record)
        if fresh:
            conn.execute(insert(self._events), [row.sealed(self._vault, subject_id) for row in fresh])
        return None

    def _history_not_stored(self, conn: Connection, record: SubjectRecord) -> list[EventRow]:
        """The rows of ``record`` that its stored history lacks. The stored open-ended usernames the
        record does not hold are dropped: a line states the current username, which ends the one before."""
        rows = list(record_rows(record))
        fresh: list[EventRow] = []
        for kind in KINDS:
            mine = [row for row in rows if row.kind == kind]
            starts = {row.first_seen for row in mine}
            e = self._events.c
            where = [e.subject_id == record.id, e.kind == kind]
            if kind != "username":  # usernames: every open-ended one is read too
                if not starts:
                    continue
                where.append(e.first_seen.in_(starts))
            found = conn.execute(select(e.id, e.first_seen, e.last_seen, e.sealed).where(*where)).all()
            stored = open_rows(self._vault, record.id, kind, [tuple(row) for row in found])
            values = [row.value for row in mine]
            if kind == "username":
                stale = [row[0] for row, value in zip(found, stored, strict=True)
                         if int(row[2]) == OPEN and value not in values]
                if stale:
                    conn.execute(delete(self._events).where(e.id.in_(stale)))
            fresh += [row for row in mine if row.value not in stored]
        return fresh

    def delete_subject(self, conn: Connection, subject_id: str) -> int:
        """Delete the subject, its blind indexes and every event row inside the caller's
        transaction; how many event rows went (0 and nothing done when there is no such subject)."""
        events = conn.execute(delete(self._events).where(self._events.c.subject_id == subject_id)).rowcount
        conn.execute(delete(self._index).where(self._index.c.subject_id == subject_id))
        conn.execute(delete(self._subjects).where(self._subjects.c.id == subject_id))
        return int(events or 0)

    def insert_events(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert sealed event rows (:meth:`EventRow.sealed`) of stored subjects."""
        self._insert(conn, self._events, rows)

    def _insert(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Rows of plain values (text, integers, bytes) on the driver's cursor: the bulk path of
        ingestion, where SQLAlchemy's per-row parameter processing costs more than SQLite's insert."""
        if not rows:
            return
        key = (conn.dialect.name, table.name)
        statement = self._inserts.get(key)
        if statement is None:
            statement = self._inserts[key] = DriverStatement(insert(table), conn.dialect, columns=list(rows[0]))
        statement.many(conn, rows)

    def event_rows(self, conn: Connection, subject_id: str, kind: str) -> list[tuple[int, int, int, dict[str, Any]]]:
        """Every stored row of one subject and kind: (id, first_seen, last_seen, value)."""
        e = self._events.c
        found = conn.execute(select(e.id, e.first_seen, e.last_seen, e.sealed).where(
            e.subject_id == subject_id, e.kind == kind).order_by(e.id)).all()
        values = open_rows(self._vault, subject_id, kind, [tuple(row) for row in found])
        return [(int(row[0]), int(row[1]), int(row[2]), value) for row, value in zip(found, values, strict=True)]

    def replace_event(self, conn: Connection, row_id: int, subject_id: str, row: EventRow) -> None:
        """Seal ``row`` in place of stored row ``row_id`` (its times may change, its context with them)."""
        conn.execute(update(self._events).where(self._events.c.id == row_id).values(
            {k: v for k, v in row.sealed(self._vault, subject_id).items() if k not in ("subject_id", "kind")}))

    def set_head(self, conn: Connection, record: SubjectRecord) -> None:
        """Seal ``record``'s head (phone, username, created_at) again and index its current values."""
        prepared = prepare_subject(self._vault, record, 0, events=False)
        conn.execute(update(self._subjects).where(self._subjects.c.id == record.id).values(sealed=prepared.head))
        conn.execute(delete(self._index).where(self._index.c.subject_id == record.id))
        conn.execute(insert(self._index), prepared.index_rows())

    def head(self, conn: Connection, subject_id: str) -> SubjectRecord | None:
        """The stored head as a record without history (``None`` if no such subject)."""
        found = conn.execute(select(self._subjects.c.sealed).where(self._subjects.c.id == subject_id)).first()
        if found is None:
            return None
        document = self._open_document(subject_id, bytes(found[0]))
        return SubjectRecord.from_document(subject_id, {**document, "v": LEGACY, "ip_events": [], "devices": [],
                                                        "username_history": []})

    # -- the previous layout ------------------------------------------------------------------

    def convert(self, conn: Connection, subject_id: str) -> bool:
        """Split a layout-1 subject (its whole history in one document) into a head and event rows,
        inside the caller's transaction; False if it is not stored in that layout."""
        found = conn.execute(select(self._subjects.c.sealed).where(
            self._subjects.c.id == subject_id, self._subjects.c.layout == LEGACY)).first()
        if found is None:
            return False
        record = SubjectRecord.from_document(subject_id, self._open_document(subject_id, bytes(found[0])))
        prepared = self.prepare(record)
        conn.execute(update(self._subjects).where(self._subjects.c.id == subject_id)
                     .values(sealed=prepared.head, layout=HEAD))
        self.insert_events(conn, prepared.events)
        return True

    def convert_documents(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Convert every layout-1 subject (:meth:`convert`), a batch per transaction; how many.
        Resumes where an interrupted run stopped; a no-op when there are none."""
        done = 0
        while True:
            with self._db.writes() as conn:
                ids = list(conn.execute(select(self._subjects.c.id).where(self._subjects.c.layout == LEGACY)
                                        .order_by(self._subjects.c.id).limit(self._batch_size)).scalars())
                for subject_id in ids:
                    done += self.convert(conn, subject_id)
            if not ids:
                return done
            if progress is not None:
                progress(done)

    # -- reads ------------------------------------------------------------------------------

    def _open_document(self, subject_id: str, sealed: bytes) -> dict[str, Any]:
        plaintext = self._vault.open(sealed, context=subject_context(subject_id))
        try:
            document = json.loads(plaintext)
        except ValueError:
            document = None
        if not isinstance(document, dict) or document.get("v") not in (LEGACY, HEAD):
            raise StoreIntegrityError()
        return document

    def _stored_head(self, connection: Connection, subject_id: str) -> tuple[bytes, int] | None:
        found = self._read_sealed.first(connection, {"id": subject_id})
        return None if found is None else (bytes(found[0]), int(found[1]))

    def _window_values(self, connection: Connection, subject_id: str, kind: str,
                       window: Window | None) -> list[dict[str, Any]]:
        rows = self._read_window.rows(connection, window_bounds(subject_id, kind, window))
        return open_rows(self._vault, subject_id, kind, rows)

    def get(self, subject_id: str) -> SubjectRecord | None:
        """The subject with its whole history, or ``None`` if there is none with this id. Raises
        :class:`StoreIntegrityError` if a stored ciphertext of it does not open."""
        if not SUBJECT_ID.fullmatch(subject_id):
            return None
        # A bare connection, not an ORM session: reads on the disclosure path need no unit of work.
        with self._db.reads() as connection:
            stored = self._stored_head(connection, subject_id)
            if stored is None:
                return None
            document = self._open_document(subject_id, stored[0])
            if document["v"] == HEAD:
                lists = {name: self._window_values(connection, subject_id, kind, None)
                         for name, kind in (("ip_events", "ip"), ("devices", "device"),
                                            ("username_history", "username"))}
                document = {**document, "v": LEGACY, **lists}
        return SubjectRecord.from_document(subject_id, document)

    def read_field(self, subject_id: str, field: str, window: Window) -> FieldValue | None:
        """One field of the stored subject within ``window`` (:class:`SubjectSource`): only the
        rows in the window are read and opened."""
        if not SUBJECT_ID.fullmatch(subject_id):
            return None
        kind = FIELD_KINDS.get(field)
        with self._db.reads() as connection:
            stored = self._stored_head(connection, subject_id)
            if stored is None:
                return None
            sealed, layout = stored
            if layout == HEAD and kind is not None:
                if window[0].tzinfo is None or window[1].tzinfo is None:
                    raise ValueError("the data window must be timezone-aware")
                return cast(FieldValue, self._window_values(connection, subject_id, kind, window))
        document = self._open_document(subject_id, sealed)
        if document["v"] == HEAD:  # phoneNumber, or a field that is not one
            document = {**document, "v": LEGACY, "ip_events": [], "devices": [], "username_history": []}
        return SubjectRecord.from_document(subject_id, document).field_value(field, window)

    def ids(self, *, after: str = "", limit: int = 500) -> list[str]:
        """Up to ``limit`` subject ids after ``after``, in order: for walking the whole store."""
        with self._db.session() as session:
            return list(session.scalars(select(self._subjects.c.id).where(self._subjects.c.id > after)
                                        .order_by(self._subjects.c.id).limit(limit)))

    def write_copy(self, conn: Connection, record: SubjectRecord) -> None:
        """Seal ``record`` as the one stored version of its subject, inside the caller's transaction:
        a preservation hold's copy of what the sql source held (gateway/lifecycle/preserved.py). It
        replaces a copy already stored. No blind index is written: a copy is read by id only (the
        sql source resolves selectors), so two platform accounts sharing a phone cannot clash here."""
        prepared = self.prepare(record)
        self.delete_subject(conn, record.id)
        self._insert(conn, self._subjects, [{"id": record.id, "sealed": prepared.head, "layout": HEAD}])
        self._insert(conn, self._events, prepared.events)

    def delete(self, conn: Connection, subject_id: str) -> bool:
        """Delete the subject, its blind indexes and its rows inside the caller's transaction (a
        preserved copy whose hold ended); whether there was one."""
        there = self.stored_ids(conn, [subject_id])
        self.delete_subject(conn, subject_id)
        return subject_id in there

    def exists(self, subject_id: str) -> bool:
        if not SUBJECT_ID.fullmatch(subject_id):
            return False
        with self._db.reads() as connection:
            return self._stored_head(connection, subject_id) is not None

    def count(self) -> int:
        with self._db.session() as session:
            return int(session.execute(select(func.count()).select_from(self._subjects)).scalar_one())

    def _lookup(self, kind: str, normalised: str) -> SubjectId | None:
        digest = self._vault.blind_index(kind, normalised)
        with self._db.reads() as connection:
            found = self._read_index.scalar(connection, {"kind": kind, "digest": digest})
        return None if found is None else SubjectId(found)

    def find_by_phone(self, raw: str) -> SubjectId | None:
        """The subject whose current phone number this is, in any formatting that
        :func:`normalise_phone` accepts; ``None`` if none or if it is not a valid number."""
        try:
            phone = normalise_phone(raw)
        except ValueError:
            return None
        return self._lookup("phone", phone)

    def find_by_username(self, raw: str) -> SubjectId | None:
        """The subject whose current username this is, in any letter case; ``None`` if none or
        if it is not a valid username. Former usernames are not indexed (module docstring)."""
        try:
            username = normalise_username(raw)
        except ValueError:
            return None
        return self._lookup("username", username)

    def resolve(self, selector: Selector, *, ids_must_exist: bool = True) -> str | None:
        """The subject a selector names, or ``None``. An ``id`` selector names its id when a subject
        has it; with ``ids_must_exist=False`` it names its id as given, for a caller that checks the
        id against an order's subjects anyway and must not learn whether someone has it."""
        if selector.kind == "id":
            return selector.value if not ids_must_exist or self.exists(selector.value) else None
        if selector.kind == "username":
            return self.find_by_username(selector.value)
        return self.find_by_phone(selector.value)

    def resolve_all(self, selectors: Iterable[Selector]) -> tuple[list[str], int]:
        """The distinct subjects the selectors name, in the order first named, and how many
        selectors named no subject (what a request's or a hold's reviewers are shown)."""
        return resolve_all(self, selectors)

    # -- retention ----------------------------------------------------------------------------

    def expired_batches(self, kind: str, cutoff: int, *, keep: frozenset[str],
                        batch: int = 10_000) -> Iterator[tuple[int, set[str]]]:
        """Delete ``kind`` rows whose ``last_seen`` is before ``cutoff`` (microseconds), except
        those of the subjects in ``keep``, a transaction per ``batch`` rows: yields, per batch, how
        many rows went and whose. On SQLite freed cells are zeroed (``secure_delete``).

        One statement per batch, ``DELETE … WHERE id IN (SELECT id … LIMIT n) RETURNING subject_id``:
        the inner select is a range of the (kind, last_seen) index, and no row id makes a round trip
        through Python (selecting the ids, then deleting by a list of them, cost twice the delete)."""
        e = self._events.c
        where = [e.kind == kind, e.last_seen < cutoff]
        if keep:
            where.append(e.subject_id.not_in(sorted(keep)))
        statement = delete(self._events).where(e.id.in_(select(e.id).where(*where).limit(batch))).returning(
            e.subject_id)
        while True:
            with self._db.writes() as conn:
                if self._db.dialect == "sqlite":
                    conn.exec_driver_sql("PRAGMA secure_delete=ON")
                whose = list(conn.execute(statement).scalars())
            if not whose:
                return
            yield len(whose), set(whose)

    def count_expired(self, kind: str, cutoff: int, subject_ids: Iterable[str]) -> int:
        """How many ``kind`` rows of ``subject_ids`` are past ``cutoff`` (kept for their holds)."""
        wanted = sorted(set(subject_ids))
        if not wanted:
            return 0
        e = self._events.c
        with self._db.reads() as connection:
            return int(connection.execute(select(func.count()).select_from(self._events).where(
                e.subject_id.in_(wanted), e.kind == kind, e.last_seen < cutoff)).scalar_one())

    def legacy_ids(self, *, limit: int = 1) -> list[str]:
        """Up to ``limit`` subjects still in layout 1."""
        with self._db.reads() as connection:
            return list(connection.execute(select(self._subjects.c.id).where(
                self._subjects.c.layout == LEGACY).limit(limit)).scalars())

