"""The encrypted subject store (the storage rules are drawn in :mod:`gateway.subjects`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.errors import StoreIntegrityError, SubjectImportError, SubjectLineError
from gateway.keys.contexts import subject_context
from gateway.keys.vault import Vault
from gateway.store.driver_statements import Prepared
from gateway.store.engine import Database
from gateway.store.tables import metadata
from gateway.subjects.normalise import normalise_phone, normalise_username
from gateway.subjects.parsing import parse_subject_line
from gateway.subjects.record import SUBJECT_ID, FieldValue, SubjectRecord, encode_document
from gateway.subjects.source import Window, resolve_all
from gateway.values.ids import SubjectId
from gateway.values.selector import Selector

__all__ = ["ImportReport", "SubjectStore"]

_BATCH_SIZE: Final = 500


@dataclass(frozen=True)
class ImportReport:
    subjects: int
    seconds: float

    @property
    def rate(self) -> float:
        """Subjects per second."""
        return self.subjects / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class _Prepared:
    line_number: int
    subject_id: str
    sealed: bytes
    phone_digest: bytes
    username_digest: bytes


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
        self._read_sealed = Prepared(select(self._subjects.c.sealed).where(self._subjects.c.id == bindparam("id")))
        self._read_index = Prepared(select(self._index.c.subject_id).where(
            self._index.c.kind == bindparam("kind"), self._index.c.digest == bindparam("digest")))

    # -- import ---------------------------------------------------------------------------

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
        refuses with AUDIT_UNAVAILABLE) during a long import. PostgreSQL has no such coupling."""
        started = time.perf_counter()
        written = 0
        with self._db.session() as session:
            conn = session.connection()
            pending: list[_Prepared] = []
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
                    prepared = self._prepare(record, line_number)
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

    def _prepare(self, record: SubjectRecord, line_number: int) -> _Prepared:
        blob = encode_document(record.to_document())
        return _Prepared(
            line_number=line_number,
            subject_id=record.id,
            sealed=self._vault.seal(blob, context=subject_context(record.id)),
            phone_digest=self._vault.blind_index("phone", record.phone),
            username_digest=self._vault.blind_index("username", normalise_username(record.username)),
        )

    @staticmethod
    def _duplicate_in_batch(prepared: _Prepared, ids: dict[str, int],
                            digests: dict[tuple[str, bytes], int]) -> SubjectImportError | None:
        n = prepared.line_number
        if prepared.subject_id in ids:
            return SubjectImportError(n, f"field 'id' is the same as line {ids[prepared.subject_id]}'s")
        for kind, digest, name in (("phone", prepared.phone_digest, "phone"),
                                   ("username", prepared.username_digest, "username")):
            if (kind, digest) in digests:
                return SubjectImportError(n, f"field '{name}' is the same as line {digests[kind, digest]}'s")
        ids[prepared.subject_id] = n
        digests["phone", prepared.phone_digest] = n
        digests["username", prepared.username_digest] = n
        return None

    def _check_against_store(self, conn: Connection, pending: Sequence[_Prepared]) -> None:
        """Raise for the first pending line whose id, phone or username is already stored
        (earlier in this import or before it)."""
        if not pending:
            return
        clashes: dict[int, str] = {}
        by_id = {p.subject_id: p.line_number for p in pending}
        for (found,) in conn.execute(select(self._subjects.c.id).where(self._subjects.c.id.in_(by_id))):
            clashes.setdefault(by_id[found], "field 'id': a subject with this id already exists")
        for kind, attribute in (("phone", "phone_digest"), ("username", "username_digest")):
            by_digest = {getattr(p, attribute): p.line_number for p in pending}
            # kind = ... AND digest IN (...) so the (kind, digest) primary key serves the lookup.
            query = select(self._index.c.digest).where(self._index.c.kind == kind,
                                                       self._index.c.digest.in_(by_digest))
            for (found,) in conn.execute(query):
                line = by_digest[bytes(found)]
                reason = f"field '{kind}' is already used by another subject (earlier in this file or stored)"
                if line not in clashes:
                    clashes[line] = reason
        if clashes:
            first = min(clashes)
            raise SubjectImportError(first, clashes[first])

    def _flush(self, conn: Connection, batch: Sequence[_Prepared]) -> int:
        self._check_against_store(conn, batch)
        try:
            conn.execute(insert(self._subjects),
                         [{"id": p.subject_id, "sealed": p.sealed} for p in batch])
            conn.execute(insert(self._index),
                         [{"kind": kind, "digest": digest, "subject_id": p.subject_id}
                          for p in batch
                          for kind, digest in (("phone", p.phone_digest), ("username", p.username_digest))])
        except IntegrityError:
            # Only a concurrent writer gets past the check above. The driver's message quotes
            # the parameters, so it is not chained.
            first, last = batch[0].line_number, batch[-1].line_number
            error = SubjectImportError(first, f"a subject in lines {first}–{last} clashes with one "
                                              "stored concurrently by another import")
        else:
            return len(batch)
        raise error

    # -- reads ------------------------------------------------------------------------------

    def get(self, subject_id: str) -> SubjectRecord | None:
        """The subject, or ``None`` if there is none with this id. Raises
        :class:`StoreIntegrityError` if its stored ciphertext does not open."""
        if not SUBJECT_ID.fullmatch(subject_id):
            return None
        # A bare connection, not an ORM session: reads on the disclosure path need no unit of work.
        with self._db.reads() as connection:
            sealed = self._read_sealed.scalar(connection, {"id": subject_id})
        if sealed is None:
            return None
        plaintext = self._vault.open(bytes(sealed), context=subject_context(subject_id))
        try:
            document = json.loads(plaintext)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise StoreIntegrityError()
        return SubjectRecord.from_document(subject_id, document)

    def ids(self, *, after: str = "", limit: int = 500) -> list[str]:
        """Up to ``limit`` subject ids after ``after``, in order: for walking the whole store."""
        with self._db.session() as session:
            return list(session.scalars(select(self._subjects.c.id).where(self._subjects.c.id > after)
                                        .order_by(self._subjects.c.id).limit(limit)))

    def rewrite(self, conn: Connection, record: SubjectRecord) -> None:
        """Seal ``record`` again in place of its stored ciphertext (a fresh nonce), inside the
        caller's transaction: retention drops old events this way. Phone and username, and so the
        blind indexes, are unchanged."""
        sealed = self._vault.seal(encode_document(record.to_document()), context=subject_context(record.id))
        conn.execute(self._subjects.update().where(self._subjects.c.id == record.id).values(sealed=sealed))

    def write_copy(self, conn: Connection, record: SubjectRecord) -> None:
        """Seal ``record`` as the one stored version of its subject, inside the caller's transaction:
        a preservation hold's copy of what the sql source held (gateway/lifecycle/preserved.py). It
        replaces a copy already stored. No blind index is written: a copy is read by id only (the
        sql source resolves selectors), so two platform accounts sharing a phone cannot clash here."""
        sealed = self._vault.seal(encode_document(record.to_document()), context=subject_context(record.id))
        changed = conn.execute(self._subjects.update().where(self._subjects.c.id == record.id)
                               .values(sealed=sealed)).rowcount
        if not changed:
            conn.execute(insert(self._subjects), [{"id": record.id, "sealed": sealed}])

    def delete(self, conn: Connection, subject_id: str) -> bool:
        """Delete the subject and its blind indexes inside the caller's transaction (a preserved copy
        whose hold ended); whether there was one."""
        conn.execute(self._index.delete().where(self._index.c.subject_id == subject_id))
        return bool(conn.execute(self._subjects.delete().where(self._subjects.c.id == subject_id)).rowcount)

    def exists(self, subject_id: str) -> bool:
        if not SUBJECT_ID.fullmatch(subject_id):
            return False
        with self._db.reads() as session:
            found = session.execute(
                select(self._subjects.c.id).where(self._subjects.c.id == subject_id)
            ).scalar_one_or_none()
        return found is not None

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

    def read_field(self, subject_id: str, field: str, window: Window) -> FieldValue | None:
        """One field of the stored subject within ``window`` (:class:`SubjectSource`)."""
        record = self.get(subject_id)
        return None if record is None else record.field_value(field, window)
