"""Subjects: the platform users whose data the gateway can disclose, and their encrypted store.

A subject is imported from one line of JSON Lines (docs/PROTOCOL.md §9)::

    {"id","username","phone","created_at",
     "ip_events":[{"ip","port"?,"first_seen","last_seen"}],
     "devices":[{"model","platform","app","app_version","first_seen","last_seen"}],
     "username_history":[{"username","from","until"?}]}

Every key is required except ``port`` and ``until``; the lists may be empty; no other key is
allowed. ``id`` is 1–64 of ``A–Z a–z 0–9 _ -``; usernames 1–64 of ``A–Z a–z 0–9 _``; device
texts 1–200 characters without control characters; ``port`` 1–65535; ``first_seen <= last_seen``
and ``from <= until``. Values are normalised on import: phone numbers to E.164 (they must carry
their ``+`` country code and be valid numbers), IP addresses to their compressed canonical text
(no zone index), times to UTC. Usernames are stored as given.

Storage. Everything but the id is one canonical-JSON document (:func:`encode_document`) sealed
by :class:`~gateway.vault.Vault` and bound to the id (``subjects.sealed``). Lookups go through
keyed blind indexes (``subject_index``) of exactly two things: the current ``phone`` (E.164)
and the current ``username`` (casefolded), each unique across subjects. Former usernames in
``username_history`` are *not* indexed: a name can pass from one user to another, so a former
name does not identify one subject, and indexing it would make the index an oracle for who once
used a name. A reviewer resolving a request by a former name does so out of band.

Times. Parsed strictly as RFC 3339 with ``Z`` or a numeric offset (no naive times, lower-case
``t``/``z`` allowed as RFC 3339 §5.6 permits, fractions beyond microseconds truncated) and
converted to UTC. They are written back as ``YYYY-MM-DDTHH:MM:SSZ``, with ``.ffffff`` (always six
digits) before the ``Z`` only when the microseconds are not zero. That is the form that leaves the
gateway in sealed values (docs/PROTOCOL.md §4).

Errors never carry subject data. A bad line raises :class:`SubjectLineError` naming the line and
the field, never the value ("field 'phone' is not a valid phone number", not the number), and the
library exceptions that would quote the value are dropped before the error is raised.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

import phonenumbers
from sqlalchemy import Connection, Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from crypto.canonical import parse_json_object
from crypto.errors import EncodingError
from gateway.errors import InvalidField, StoreIntegrityError, SubjectImportError, SubjectLineError, UnknownSubjectField
from gateway.store.engine import Database
from gateway.store.tables import metadata
from gateway.values.ids import SubjectId
from gateway.values.times import format_time, parse_time
from gateway.vault import Vault

__all__ = [
    "MAX_LINE_CHARS",
    "Device",
    "FieldValue",
    "ImportReport",
    "IpEvent",
    "SubjectRecord",
    "SubjectStore",
    "UsernameRecord",
    "encode_document",
    "normalise_ip",
    "normalise_phone",
    "normalise_username",
    "parse_subject",
    "parse_subject_line",
]

MAX_LINE_CHARS: Final = 4 * 1024 * 1024
"""Longest import line accepted: far beyond any real subject, short of exhausting memory."""

_BATCH_SIZE: Final = 500
_BLOB_VERSION: Final = 1
_MAX_TEXT: Final = 200

FieldValue: TypeAlias = str | list[dict[str, str | int]]
"""What :meth:`SubjectRecord.field_value` returns: the docs/PROTOCOL.md §4 ``value`` of a field."""

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,64}")
# Digits and the separators people write between them, after a mandatory "+": phonenumbers would
# otherwise also accept vanity letters ("+1 800 FLOWERS"), extensions and tel: URIs.
_PHONE_TEXT = re.compile(r"\+[0-9 ().\-/]{1,40}")
# Control characters and lone surrogates (invalid UTF-8 decoded with surrogateescape, or a bare
# "\ud800" JSON escape): refused in free text, which must survive canonical JSON and display.
_BAD_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

_TOP_KEYS: Final = frozenset({"id", "username", "phone", "created_at", "ip_events", "devices",
                              "username_history"})
_IP_KEYS: Final = frozenset({"ip", "port", "first_seen", "last_seen"})
_DEVICE_KEYS: Final = frozenset({"model", "platform", "app", "app_version", "first_seen", "last_seen"})
_HISTORY_KEYS: Final = frozenset({"username", "from", "until"})
_DEVICE_TEXT: Final = ("model", "platform", "app", "app_version")


# --------------------------------------------------------------------------------------------
# Values


def normalise_phone(raw: str) -> str:
    """The E.164 form of an international phone number written with its ``+`` country code and
    digits, spaces, dashes, dots, slashes or parentheses. ``ValueError`` (fixed message) for
    anything else, including numbers ``phonenumbers`` does not consider valid."""
    text = raw.strip()
    number: phonenumbers.PhoneNumber | None = None
    if _PHONE_TEXT.fullmatch(text):
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
    if number is None or number.extension or not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_username(raw: str) -> str:
    """The casefolded username, as it is indexed. ``ValueError`` (fixed message) unless 1–64
    characters of ``A–Z a–z 0–9 _``."""
    if not _USERNAME.fullmatch(raw):
        raise ValueError("not a valid username")
    return raw.casefold()


def normalise_ip(raw: str) -> str:
    """The compressed canonical text of an IPv4 or IPv6 address (no zone index).
    ``ValueError`` (fixed message) for anything else."""
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        address = None
    if address is None or (isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None):
        raise ValueError("not a valid IP address")
    return str(address)


# --------------------------------------------------------------------------------------------
# The record


def _overlaps(start: datetime, end: datetime | None, window: tuple[datetime, datetime] | None) -> bool:
    """Does [start, end] overlap [window_from, window_until)? ``end`` None is open-ended."""
    if window is None:
        return True
    window_from, window_until = window
    return start < window_until and (end is None or end >= window_from)


@dataclass(frozen=True, slots=True)
class IpEvent:
    ip: str
    port: int | None
    first_seen: datetime
    last_seen: datetime

    def to_json(self) -> dict[str, str | int]:
        value: dict[str, str | int] = {"ip": self.ip}
        if self.port is not None:
            value["port"] = self.port
        value["first_seen"] = format_time(self.first_seen)
        value["last_seen"] = format_time(self.last_seen)
        return value


@dataclass(frozen=True, slots=True)
class Device:
    model: str
    platform: str
    app: str
    app_version: str
    first_seen: datetime
    last_seen: datetime

    def to_json(self) -> dict[str, str | int]:
        return {"model": self.model, "platform": self.platform, "app": self.app,
                "app_version": self.app_version, "first_seen": format_time(self.first_seen),
                "last_seen": format_time(self.last_seen)}


@dataclass(frozen=True, slots=True)
class UsernameRecord:
    username: str
    from_: datetime
    until: datetime | None

    def to_json(self) -> dict[str, str | int]:
        value: dict[str, str | int] = {"username": self.username, "from": format_time(self.from_)}
        if self.until is not None:
            value["until"] = format_time(self.until)
        return value


@dataclass(frozen=True, slots=True)
class SubjectRecord:
    """One subject, normalised: ``phone`` in E.164, ``username`` as given, times in UTC."""

    id: SubjectId
    username: str
    phone: str
    created_at: datetime
    ip_events: tuple[IpEvent, ...]
    devices: tuple[Device, ...]
    username_history: tuple[UsernameRecord, ...]

    def field_value(self, field: str, window: tuple[datetime, datetime] | None = None) -> FieldValue:
        """The docs/PROTOCOL.md §4 ``value`` of ``field``.

        List fields keep only the events that overlap ``window`` = (from, until): an event
        [first_seen, last_seen] overlaps [from, until) iff first_seen < until and
        last_seen >= from; a username record without ``until`` is open-ended. ``None`` keeps all.
        ``phoneNumber`` ignores the window. Raises :class:`UnknownSubjectField` for a field not
        in :data:`SUBJECT_FIELDS` and ``ValueError`` for a window of naive datetimes."""
        if window is not None and (window[0].tzinfo is None or window[1].tzinfo is None):
            raise ValueError("the data window must be timezone-aware")
        if field == "phoneNumber":
            return self.phone
        if field == "ipAddresses":
            return [e.to_json() for e in self.ip_events if _overlaps(e.first_seen, e.last_seen, window)]
        if field == "devices":
            return [d.to_json() for d in self.devices if _overlaps(d.first_seen, d.last_seen, window)]
        if field == "usernameHistory":
            return [u.to_json() for u in self.username_history if _overlaps(u.from_, u.until, window)]
        raise UnknownSubjectField()

    def to_document(self) -> dict[str, Any]:
        """Everything but the id, in the import shape with normalised values: what is sealed."""
        return {
            "v": _BLOB_VERSION,
            "username": self.username,
            "phone": self.phone,
            "created_at": format_time(self.created_at),
            "ip_events": [e.to_json() for e in self.ip_events],
            "devices": [d.to_json() for d in self.devices],
            "username_history": [u.to_json() for u in self.username_history],
        }

    @classmethod
    def from_document(cls, subject_id: str, document: Mapping[str, Any]) -> SubjectRecord:
        """Rebuild a record from :meth:`to_document`'s output (already authenticated by the
        vault, so not re-validated: a phonenumbers upgrade must not make stored subjects
        unreadable). Raises :class:`StoreIntegrityError` if it is not that shape."""
        try:
            if document["v"] != _BLOB_VERSION:
                raise ValueError
            when = datetime.fromisoformat
            return cls(
                id=SubjectId(subject_id),
                username=document["username"],
                phone=document["phone"],
                created_at=when(document["created_at"]),
                ip_events=tuple(IpEvent(e["ip"], e.get("port"), when(e["first_seen"]), when(e["last_seen"]))
                                for e in document["ip_events"]),
                devices=tuple(Device(d["model"], d["platform"], d["app"], d["app_version"],
                                     when(d["first_seen"]), when(d["last_seen"]))
                              for d in document["devices"]),
                username_history=tuple(
                    UsernameRecord(u["username"], when(u["from"]), when(u["until"]) if "until" in u else None)
                    for u in document["username_history"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            pass
        raise StoreIntegrityError()


def encode_document(document: Mapping[str, Any]) -> bytes:
    """The bytes that are sealed: RFC 8785 canonical JSON of :meth:`SubjectRecord.to_document`.

    For these documents ``json.dumps`` with sorted keys, no whitespace and raw UTF-8 produces
    exactly the JCS bytes (``crypto.canonical.canonical_json``) at a fifth of the cost, which is
    most of an import's time: keys are ASCII (so code-point and UTF-16 order agree), values are
    only strings and integers (no floats to format), and import refused the control characters
    and lone surrogates whose escaping could differ. A test pins the equality."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Parsing one import line


def _name(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# The helpers below take (object, where, key) and build the field's name only for an error
# message: an import formats nothing per field on its happy path.


def _object(value: object, where: str, allowed: frozenset[str], required: Iterable[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidField(f"field '{where}' must be an object" if where else "line must be a JSON object")
    # Unknown keys are not quoted: a malformed export could put anything, a phone number even,
    # where a key belongs.
    if not value.keys() <= allowed:
        label = f"field '{where}'" if where else "the line"
        raise InvalidField(f"{label} has a key that is not allowed (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in value:
            raise InvalidField(f"missing field '{_name(where, key)}'")
    return value


def _string(obj: Mapping[str, Any], where: str, key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidField(f"field '{_name(where, key)}' must be a string")
    return value


def _list(obj: Mapping[str, Any], key: str) -> list[object]:
    value = obj[key]
    if not isinstance(value, list):
        raise InvalidField(f"field '{key}' must be a list")
    return value


def _time(obj: Mapping[str, Any], where: str, key: str) -> datetime:
    text = _string(obj, where, key)
    try:
        return parse_time(text)
    except ValueError:
        pass
    raise InvalidField(f"field '{_name(where, key)}' is not an RFC 3339 time with Z or an offset")


def _text(obj: Mapping[str, Any], where: str, key: str) -> str:
    text = _string(obj, where, key)
    if not 1 <= len(text) <= _MAX_TEXT or _BAD_TEXT.search(text):
        raise InvalidField(f"field '{_name(where, key)}' must be 1–{_MAX_TEXT} characters "
                       "without control characters")
    return text


def _username(obj: Mapping[str, Any], where: str, key: str) -> str:
    text = _string(obj, where, key)
    if not _USERNAME.fullmatch(text):
        raise InvalidField(f"field '{_name(where, key)}' must be 1–64 characters of A–Z, a–z, 0–9 and _")
    return text


def _span(obj: Mapping[str, Any], where: str, first_key: str, last_key: str) -> tuple[datetime, datetime]:
    first = _time(obj, where, first_key)
    last = _time(obj, where, last_key)
    if first > last:
        raise InvalidField(f"field '{where}': {first_key} is after {last_key}")
    return first, last


def _ip_event(value: object, where: str, seen: dict[str, str]) -> IpEvent:
    obj = _object(value, where, _IP_KEYS, ("ip", "first_seen", "last_seen"))
    raw = _string(obj, where, "ip")
    # A subject's events come from a handful of addresses and ipaddress parsing is among the
    # slowest steps of an import, so each distinct text is parsed once per subject.
    ip = seen.get(raw)
    if ip is None:
        try:
            ip = normalise_ip(raw)
        except ValueError:
            ip = None
        if ip is None:
            raise InvalidField(f"field '{where}.ip' is not a valid IP address")
        seen[raw] = ip
    port = obj.get("port")
    # bool is an int in Python, and JSON true is no port.
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise InvalidField(f"field '{where}.port' must be an integer from 1 to 65535")
    first_seen, last_seen = _span(obj, where, "first_seen", "last_seen")
    return IpEvent(ip, port, first_seen, last_seen)


def _device(value: object, where: str) -> Device:
    obj = _object(value, where, _DEVICE_KEYS, _DEVICE_KEYS)
    first_seen, last_seen = _span(obj, where, "first_seen", "last_seen")
    return Device(_text(obj, where, "model"), _text(obj, where, "platform"), _text(obj, where, "app"),
                  _text(obj, where, "app_version"), first_seen, last_seen)


def _history(value: object, where: str) -> UsernameRecord:
    obj = _object(value, where, _HISTORY_KEYS, ("username", "from"))
    username = _username(obj, where, "username")
    if "until" in obj:
        start, until = _span(obj, where, "from", "until")
        return UsernameRecord(username, start, until)
    return UsernameRecord(username, _time(obj, where, "from"), None)


def _subject(obj: object) -> SubjectRecord:
    top = _object(obj, "", _TOP_KEYS, ("id", "username", "phone", "created_at", "ip_events", "devices",
                                       "username_history"))
    subject_id = _string(top, "", "id")
    if not _ID.fullmatch(subject_id):
        raise InvalidField("field 'id' must be 1–64 characters of A–Z, a–z, 0–9, _ and -")
    username = _username(top, "", "username")
    try:
        phone = normalise_phone(_string(top, "", "phone"))
    except ValueError:
        phone = None
    if phone is None:
        raise InvalidField("field 'phone' is not a valid phone number (E.164 with its + country code)")
    created_at = _time(top, "", "created_at")
    seen: dict[str, str] = {}
    return SubjectRecord(
        id=SubjectId(subject_id),
        username=username,
        phone=phone,
        created_at=created_at,
        ip_events=tuple(_ip_event(v, f"ip_events[{i}]", seen) for i, v in enumerate(_list(top, "ip_events"))),
        devices=tuple(_device(v, f"devices[{i}]") for i, v in enumerate(_list(top, "devices"))),
        username_history=tuple(_history(v, f"username_history[{i}]")
                               for i, v in enumerate(_list(top, "username_history"))),
    )


def parse_subject(obj: object, line_number: int = 1) -> SubjectRecord:
    """Validate and normalise one subject given as parsed JSON (docs/PROTOCOL.md §9 shape).
    Raises :class:`SubjectLineError` naming ``line_number`` and the field."""
    try:
        return _subject(obj)
    except InvalidField as exc:
        reason = exc.reason
    raise SubjectLineError(line_number, reason)


def parse_subject_line(line: str, line_number: int = 1) -> SubjectRecord:
    """Parse one JSON Lines line (a trailing newline is fine) into a normalised record.
    Raises :class:`SubjectLineError` naming ``line_number`` and the field, never the value."""
    if len(line) > MAX_LINE_CHARS:
        raise SubjectLineError(line_number, f"line is longer than {MAX_LINE_CHARS} characters")
    if not line.strip():
        raise SubjectLineError(line_number, "line is empty")
    if _SURROGATE.search(line):
        raise SubjectLineError(line_number, "line is not valid UTF-8")
    try:
        obj: object = parse_json_object(line, what="line")
    except EncodingError as exc:
        # crypto's messages are fixed texts that never quote the input.
        raise SubjectLineError(line_number, exc.message) from None
    return parse_subject(obj, line_number)


# --------------------------------------------------------------------------------------------
# The store


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


def _context(subject_id: str) -> bytes:
    return b"subject:" + subject_id.encode("ascii")


class SubjectStore:
    """Encrypted subjects with blind-index lookups, over SQLAlchemy Core (the ORM is several
    times slower for bulk rows, FINDINGS.md)."""

    def __init__(self, db: Database, vault: Vault, *, batch_size: int = _BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._db = db
        self._vault = vault
        self._batch_size = batch_size
        self._subjects: Table = metadata.tables["subjects"]
        self._index: Table = metadata.tables["subject_index"]
        self._read_sealed = select(self._subjects.c.sealed).where(self._subjects.c.id == bindparam("id"))
        self._read_index = select(self._index.c.subject_id).where(
            self._index.c.kind == bindparam("kind"), self._index.c.digest == bindparam("digest"))

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
            sealed=self._vault.seal(blob, context=_context(record.id)),
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
        if not _ID.fullmatch(subject_id):
            return None
        # A bare connection, not an ORM session: reads on the disclosure path need no unit of work.
        with self._db.engine.connect() as session:
            sealed = session.execute(self._read_sealed, {"id": subject_id}).scalar_one_or_none()
        if sealed is None:
            return None
        plaintext = self._vault.open(bytes(sealed), context=_context(subject_id))
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
        sealed = self._vault.seal(encode_document(record.to_document()), context=_context(record.id))
        conn.execute(self._subjects.update().where(self._subjects.c.id == record.id).values(sealed=sealed))

    def exists(self, subject_id: str) -> bool:
        if not _ID.fullmatch(subject_id):
            return False
        with self._db.engine.connect() as session:
            found = session.execute(
                select(self._subjects.c.id).where(self._subjects.c.id == subject_id)
            ).scalar_one_or_none()
        return found is not None

    def count(self) -> int:
        with self._db.session() as session:
            return int(session.execute(select(func.count()).select_from(self._subjects)).scalar_one())

    def _lookup(self, kind: str, normalised: str) -> SubjectId | None:
        digest = self._vault.blind_index(kind, normalised)
        with self._db.engine.connect() as session:
            found = session.execute(self._read_index, {"kind": kind, "digest": digest}).scalar_one_or_none()
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
