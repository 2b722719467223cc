"""Engines and sessions for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["SQLITE_PRAGMAS", "Database", "apply_sqlite_pragmas", "connection_failure", "is_sqlite"]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000")
"""Every SQLite connection's settings. WAL lets readers run beside the single writer;
synchronous=FULL makes every commit an fsync of the WAL, which the audit log's durability promise
needs (docs/PROTOCOL.md §7)."""


def apply_sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """Set :data:`SQLITE_PRAGMAS` on a new DB-API connection (a ``connect`` event listener)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):  # pragma: no cover - other drivers
        return
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


_AUTHENTICATION = ("28P01", "28000")  # invalid_password, invalid_authorization_specification
_MISSING_DATABASE = "3D000"  # invalid_catalog_name


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc``, the driver's error SQLAlchemy wraps (``.orig``) and their causes, each once."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        orig = getattr(current, "orig", None)
        pending += [current.__cause__, current.__context__, orig if isinstance(orig, BaseException) else None]
    return found


def connection_failure(exc: BaseException, *, url_setting: str, password_setting: str | None) -> str:
    """Why a connection failed, told apart (the credentials refused, no such database, nothing
    listening, an unknown host, no answer) from the driver's SQLSTATE or its words, with the
    setting to check. It quotes nothing of the driver's message, which may hold the URL's host,
    user and password."""
    causes = _causes(exc)
    states = {getattr(cause, "sqlstate", None) for cause in causes}
    text = " ".join(str(cause) for cause in causes).lower()
    credentials = f"the user in {url_setting} and {password_setting}" if password_setting else \
        f"the user and password in {url_setting}"
    if states & set(_AUTHENTICATION) or "authentication failed" in text or (
            "role " in text and "does not exist" in text) or "no pg_hba.conf entry" in text:
        return f"authentication failed: the database server refused the credentials; check {credentials}"
    if _MISSING_DATABASE in states or ("database " in text and "does not exist" in text):
        return (f"the database does not exist on the server; check the database name in {url_setting}, "
                "or create that database first")
    if "connection refused" in text:
        return (f"connection refused: nothing listens at the host and port in {url_setting}; check them, "
                "and that the database server is running")
    if "could not translate host name" in text or "name or service not known" in text or \
            "nodename nor servname" in text or "temporary failure in name resolution" in text:
        return f"the host in {url_setting} is not known; check its spelling"
    if "timeout expired" in text or "timed out" in text:
        return f"the database server did not answer in time; check the host and port in {url_setting}"
    if "unable to open database file" in text:
        return f"the SQLite file cannot be opened (its directory is missing or not writable); check {url_setting}"
    check = url_setting + (f" and {password_setting}" if password_setting else "")
    return f"{type(exc).__name__}; check {check}"


class Database:
    """One engine and its session factory; built once per process from the database URL."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine = create_engine(
                url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=pool_size, max_overflow=pool_size,
            )
            event.listen(self.engine, "connect", apply_sqlite_pragmas)
        else:
            self.engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                                        pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The request's read connection (:meth:`request_reads`), per thread and task: never shared
        # between two requests.
        self._request_connection: ContextVar[Connection | None] = ContextVar(f"reads-{id(self)}", default=None)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def writes(self) -> Iterator[Connection]:
        """A transaction that commits when the block ends (rolls back on error) and, on SQLite,
        holds the write lock from its first statement (``BEGIN IMMEDIATE``, waiting up to the busy
        timeout): a deferred transaction that reads and then writes fails at once, whatever the
        timeout, when another writer (the audit log's) committed in between."""
        with self.engine.connect() as connection, connection.begin():
            if self.dialect == "sqlite":
                # The driver starts no transaction of its own before this one: its implicit BEGIN
                # comes only before a write, and the block has written nothing yet.
                cursor = connection.connection.cursor()
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                finally:
                    cursor.close()
            yield connection

    @contextmanager
    def request_reads(self) -> Iterator[None]:
        """Within the block, :meth:`reads` hands out one connection: a request's reads (its token's
        key, its jti, its order, its subjects) take one pool checkout, not one each. Only reads use
        it; writes go through :meth:`session` or the audit writer, each in its own transaction."""
        if self._request_connection.get() is not None:
            yield
            return
        with self.engine.connect() as connection:
            token = self._request_connection.set(connection)
            try:
                yield
            finally:
                self._request_connection.reset(token)

    @contextmanager
    def reads(self) -> Iterator[Connection]:
        """A connection to read through: the request's (:meth:`request_reads`), else a new one.
        Each statement sees what is committed when it runs (SQLite autocommit reads, PostgreSQL
        READ COMMITTED), as with a connection of its own."""
        shared = self._request_connection.get()
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as connection:
            yield connection

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
