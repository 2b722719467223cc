"""The ``sql`` subject source: the platform's own database, read where it lives (docs/PROTOCOL.md §9.2).

Every read is one statement of the mapping (:mod:`gateway.subjects.mapping`) with bound
parameters only, in a read-only transaction with a statement timeout: each connection is set,
when it is opened, to read-only transactions and a statement timeout (PostgreSQL
``default_transaction_read_only`` and ``statement_timeout``; MariaDB ``SET SESSION TRANSACTION
READ ONLY`` and ``max_statement_time``, MySQL ``max_execution_time``) and runs each statement as
its own implicit transaction, so a read is one round trip: no ``BEGIN``, no ``ROLLBACK``, no ping.
Instead of pinging each connection before use, a read that finds its connection dropped is run
once more on a new one: it only reads.

Within :meth:`SqlSource.request_reads` (one HTTP request) the reads share one pool checkout, and
an id the ``exists`` statement confirmed is not asked about again in the request: a list field
with no rows in the window then needs no second statement to tell "no events" from "no such
subject". Only that fact is kept, only for the request; no value read is.

Values read are checked as an import checks them, returned to be sealed and kept nowhere: no
cache, no log line, no metric, no row of the gateway's database.

A source that is down, times out or answers a value of the wrong shape raises
:class:`~gateway.errors.SourceUnavailable`. The driver's message is never chained or logged: it can
quote the bound parameters (a phone number, say). The log line says only which statement failed and
the exception's type.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from gateway.errors import InvalidField, OperatorError, SourceUnavailable, UnknownSubjectField
from gateway.store.driver_statements import DriverStatement
from gateway.subjects.mapping import PURPOSES, Mapping, load_mapping
from gateway.subjects.normalise import normalise_phone, normalise_username
from gateway.subjects.parsing import device_of, ip_event_of, username_record_of
from gateway.subjects.record import SUBJECT_ID, FieldValue, overlaps
from gateway.subjects.source import Window, resolve_all
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.selector import Selector
from gateway.values.times import format_time

__all__ = ["SqlSource"]

log = logging.getLogger("gateway.subjects.sql_source")

_UNAVAILABLE: Final = "the subject source could not answer; nothing was disclosed and the order was not charged"
# Parameters no platform row matches, for `gateway sources check`: they run every statement once.
_HARMLESS: Final[dict[str, Any]] = {
    "subject_id": "0", "phone": "+0", "username": "0",
    "window_from": datetime(1970, 1, 1, tzinfo=UTC), "window_until": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
}
_FIELD_PURPOSE: Final = {"phoneNumber": "phone", "ipAddresses": "ip_events", "devices": "devices",
                         "usernameHistory": "username_history"}
_DIALECTS: Final = ("postgresql", "mysql", "mariadb")


@dataclass
class _RequestReads:
    """What one request's reads share: a connection, checked out at its first read, and the ids
    the exists statement confirmed during the request (ids the request holds already; no values)."""

    connection: Connection | None = None
    existing: set[str] = field(default_factory=set)


class SqlSource:
    """A :class:`~gateway.subjects.source.SubjectSource` over the platform's database."""

    def __init__(self, engine: Engine, mapping: Mapping, *, timeout_s: float = 2.0) -> None:
        if engine.dialect.name not in _DIALECTS:
            raise OperatorError(f"the sql subject source reads PostgreSQL and MariaDB/MySQL; "
                                f"'{engine.dialect.name}' is neither")
        self._mapping = mapping
        self._timeout_s = timeout_s
        # Read-only and timeout are the session's defaults, so every implicit (autocommit)
        # transaction has both and a read costs one round trip instead of BEGIN, read, ROLLBACK.
        event.listen(engine, "connect", self._set_session)
        # Autocommit is set on the connection once (_set_session), not per checkout: SQLAlchemy's
        # isolation_level option would put it back at every checkin (two more round trips on
        # MariaDB), and the rollback it sends at checkin has nothing to roll back.
        engine.dialect.skip_autocommit_rollback = True
        self._engine = engine
        self._binds = {name: frozenset(clause.compile().params) for name, clause in mapping.statements.items()}
        # Each statement as its driver takes it (its paramstyle, `%` escaped), compiled once.
        self._statements = {name: DriverStatement(clause, engine.dialect)
                            for name, clause in mapping.statements.items()}
        self._request: ContextVar[_RequestReads | None] = ContextVar(f"source-reads-{id(self)}", default=None)

    @classmethod
    def open(cls, url: str, mapping_path: Path, *, timeout_s: float = 2.0, pool_size: int = 5) -> SqlSource:
        """The source at ``url`` with the mapping at ``mapping_path``, not yet checked. A request
        holds one connection while it runs (:meth:`request_reads`): ``pool_size`` should be the
        number of worker threads, so that none waits on the pool."""
        mapping = load_mapping(mapping_path)
        error: str | None = None
        try:
            parsed = make_url(url)
        except ArgumentError:
            error = "GATEWAY_SUBJECT_SOURCE_URL is not a SQLAlchemy URL"
        if error is not None:
            raise OperatorError(error)  # the URL holds a password: never quoted
        backend = parsed.get_backend_name()
        connect_seconds = max(2, math.ceil(timeout_s))
        connect_args: dict[str, Any] = {"connect_timeout": connect_seconds}
        if backend in ("mysql", "mariadb"):
            connect_args |= {"read_timeout": connect_seconds + 2, "write_timeout": connect_seconds + 2}
        try:
            engine = create_engine(parsed, connect_args=connect_args, pool_size=pool_size)
        except (ArgumentError, ImportError) as exc:
            error = f"GATEWAY_SUBJECT_SOURCE_URL: cannot open a '{backend}' engine ({type(exc).__name__})"
        if error is not None:
            raise OperatorError(error)
        return cls(engine, mapping, timeout_s=timeout_s)

    def dispose(self) -> None:
        self._engine.dispose()

    @contextmanager
    def request_reads(self) -> Iterator[None]:
        """Within the block (one request, one thread) the reads take one pool checkout, made at the
        first read, and an id the exists statement confirmed is not asked about again. A block
        inside another is part of it."""
        if self._request.get() is not None:
            yield
            return
        shared = _RequestReads()
        token = self._request.set(shared)
        try:
            yield
        finally:
            self._request.reset(token)
            if shared.connection is not None:
                shared.connection.close()

    # -- the statements ------------------------------------------------------------------------

    def _set_session(self, dbapi_connection: Any, _record: object) -> None:
        """A new connection: read-only transactions with a statement timeout (settings, not values)."""
        millis = max(1, round(self._timeout_s * 1000))
        if self._engine.dialect.name == "postgresql":
            settings = [f"SET statement_timeout = {millis}", "SET default_transaction_read_only = on"]
        else:
            # The session's access mode holds for every later transaction of the session, the
            # implicit one of each autocommitted statement too (MariaDB and MySQL alike).
            timeout = (f"SET SESSION max_statement_time = {millis / 1000:.3f}" if _is_mariadb(dbapi_connection)
                       else f"SET SESSION max_execution_time = {millis}")
            settings = [timeout, "SET SESSION TRANSACTION READ ONLY"]
        cursor = dbapi_connection.cursor()
        for setting in settings:
            cursor.execute(setting)
        cursor.close()
        dbapi_connection.commit()
        self._engine.dialect.set_isolation_level(dbapi_connection, "AUTOCOMMIT")

    def _bind(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        if conn.dialect.name == "postgresql":
            return params
        # MySQL's DATETIME has no zone: the window goes in as UTC wall time.
        return {k: v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v
                for k, v in params.items()}

    def _execute(self, purpose: str, params: dict[str, Any]) -> tuple[list[str], Sequence[Any]]:
        """Run one statement read-only; its column names (lowercased) and rows. A connection the
        database dropped (a restart, an idle timeout) is replaced once: the pool pings no more."""
        try:
            return self._execute_once(purpose, params)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        shared = self._request.get()
        if shared is not None and shared.connection is not None:
            shared.connection.close()  # the request's connection is gone: the retry checks out another
            shared.connection = None
        return self._execute_once(purpose, params)

    def _execute_once(self, purpose: str, params: dict[str, Any]) -> tuple[list[str], Sequence[Any]]:
        shared = self._request.get()
        if shared is None:
            with self._engine.connect() as conn:
                return self._run(conn, purpose, params)
        if shared.connection is None:
            shared.connection = self._engine.connect()
        return self._run(shared.connection, purpose, params)

    def _run(self, conn: Connection, purpose: str, params: dict[str, Any]) -> tuple[list[str], Sequence[Any]]:
        """One statement on the driver's own cursor (:class:`DriverStatement`: the text compiled once,
        no SQLAlchemy execution around it, a third of a read's time in Python, profiled; its errors
        SQLAlchemy's, without the parameters). A connection the database dropped is invalidated, and
        with it every other one the pool holds: they went with it."""
        wanted = {k: v for k, v in params.items() if k in self._binds[purpose]}
        try:
            columns, rows = self._statements[purpose].described_rows(conn, self._bind(conn, wanted))
        except DBAPIError as exc:
            if exc.connection_invalidated:
                self._engine.dispose()  # the retry and later reads open new ones
            raise
        return [column.lower() for column in columns], rows

    def _read(self, purpose: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One statement's rows by column name, or :class:`SourceUnavailable`."""
        failure: str | None = None
        try:
            columns, rows = self._execute(purpose, params)
        except SQLAlchemyError as exc:
            failure = type(getattr(exc, "orig", None) or exc).__name__
        if failure is not None:
            log.warning("subject source: statement '%s' failed (%s)", purpose, failure)
            raise SourceUnavailable(_UNAVAILABLE)
        if sorted(columns) != sorted(PURPOSES[purpose].columns):
            log.warning("subject source: statement '%s' returned other columns than its purpose needs", purpose)
            raise SourceUnavailable(_UNAVAILABLE)
        return [dict(zip(columns, row, strict=True)) for row in rows]

    # -- SubjectSource -----------------------------------------------------------------------------

    def _one_subject(self, purpose: str, params: dict[str, Any]) -> str | None:
        rows = self._read(purpose, params)
        ids = {_subject_id(purpose, row["subject_id"]) for row in rows}
        # Two accounts with one phone or name: the selector names no one subject, as in the embedded store.
        return ids.pop() if len(ids) == 1 else None

    def exists(self, subject_id: str) -> bool:
        if not SUBJECT_ID.fullmatch(subject_id):
            return False
        shared = self._request.get()
        if shared is not None and subject_id in shared.existing:
            return True  # the exists statement said so earlier in this request
        found = self._one_subject("exists", {"subject_id": subject_id}) == subject_id
        if found and shared is not None:
            shared.existing.add(subject_id)
        return found

    def resolve(self, selector: Selector, *, ids_must_exist: bool = True) -> str | None:
        if selector.kind == "id":
            return selector.value if not ids_must_exist or self.exists(selector.value) else None
        try:
            if selector.kind == "username":
                purpose, params = "resolve_by_username", {"username": normalise_username(selector.value)}
            else:
                purpose, params = "resolve_by_phone", {"phone": normalise_phone(selector.value)}
        except ValueError:
            return None
        return self._one_subject(purpose, params)

    def resolve_all(self, selectors: Iterable[Selector]) -> tuple[list[str], int]:
        with self.request_reads():  # a request's or a hold's selectors: one checkout for all of them
            return resolve_all(self, selectors)

    def read_field(self, subject_id: str, field: str, window: Window) -> FieldValue | None:
        if field not in SUBJECT_FIELDS:
            raise UnknownSubjectField(SUBJECT_FIELDS)
        if not SUBJECT_ID.fullmatch(subject_id):
            return None
        purpose = _FIELD_PURPOSE[field]
        params = {"subject_id": subject_id, "window_from": window[0], "window_until": window[1]}
        rows = self._read(purpose, params)
        if purpose == "phone":
            if not rows:
                return None
            return _phone([row["phone"] for row in rows])
        if not rows and not self.exists(subject_id):
            return None
        value: list[dict[str, str | int]] | None
        try:
            value = [v for i, row in enumerate(rows) for v in _event(purpose, i, row, window)]
        except InvalidField:
            value = None  # raised below, outside the handler: nothing of the row rides along
        if value is None:
            log.warning("subject source: statement '%s' answered a value of the wrong shape", purpose)
            raise SourceUnavailable(_UNAVAILABLE)
        return value

    # -- start and `gateway sources check` ---------------------------------------------------------

    def check(self) -> None:
        """Run every statement once with parameters no row matches, read-only, and check its columns.
        Raise :class:`OperatorError` with one line naming the first statement that is wrong."""
        for purpose, spec in PURPOSES.items():
            failure: str | None = None
            try:
                columns, _ = self._execute(purpose, dict(_HARMLESS))
            except SQLAlchemyError as exc:
                failure = _first_line(exc)
            if failure is not None:
                raise OperatorError(f"subject source: statement '{purpose}' fails on the source: {failure}")
            if sorted(columns) != sorted(spec.columns):
                raise OperatorError(
                    f"subject source: statement '{purpose}' returns columns ({', '.join(columns)}); "
                    f"its purpose needs exactly ({', '.join(spec.columns)})")


def _is_mariadb(dbapi_connection: Any) -> bool:
    """Whether a MySQL-protocol connection's server is MariaDB (its version string says so)."""
    info = getattr(dbapi_connection, "get_server_info", None)
    return callable(info) and "mariadb" in str(info()).lower()


def _first_line(exc: SQLAlchemyError) -> str:
    """The database's own reason, one line: at check time only the harmless parameters are bound."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line[:300]


def _subject_id(purpose: str, value: object) -> str:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not SUBJECT_ID.fullmatch(text):
        log.warning("subject source: statement '%s' answered a subject id of the wrong shape", purpose)
        raise SourceUnavailable(_UNAVAILABLE)
    return text


def _phone(values: list[object]) -> str:
    phones: set[str] = set()
    for raw in values:
        try:
            phones.add(normalise_phone(raw) if isinstance(raw, str) else "")
        except ValueError:
            phones.add("")
    if len(phones) != 1 or "" in phones:
        log.warning("subject source: statement 'phone' answered a value of the wrong shape")
        raise SourceUnavailable(_UNAVAILABLE)
    return phones.pop()


def _time(value: object) -> object:
    """A datetime as its RFC 3339 text (a zoneless one is UTC); anything else as it is, for the
    import checks to refuse or parse."""
    if isinstance(value, datetime):
        return format_time(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    return value


def _event(purpose: str, i: int, row: dict[str, Any], window: Window) -> list[dict[str, str | int]]:
    """One row as its §4 value, checked as an import checks it; [] if it does not overlap the window
    (the statement should not have returned it, and the gateway discloses nothing outside it)."""
    where = f"{purpose}[{i}]"
    if purpose == "ip_events":
        ip = row["ip"]
        if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            ip = str(ip)
        shape: dict[str, object] = {"ip": ip, "first_seen": _time(row["first_seen"]),
                                    "last_seen": _time(row["last_seen"])}
        if row["port"] is not None:
            shape["port"] = row["port"]
        event = ip_event_of(shape, where)
        return [event.to_json()] if overlaps(event.first_seen, event.last_seen, window) else []
    if purpose == "devices":
        device = device_of({k: _time(v) for k, v in row.items()}, where)
        return [device.to_json()] if overlaps(device.first_seen, device.last_seen, window) else []
    shape = {"username": row["username"], "from": _time(row["valid_from"])}
    if row["valid_until"] is not None:
        shape["until"] = _time(row["valid_until"])
    record = username_record_of(shape, where)
    return [record.to_json()] if overlaps(record.from_, record.until, window) else []
