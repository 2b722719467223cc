"""Engines and sessions for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["SQLITE_PRAGMAS", "Database", "apply_sqlite_pragmas", "is_sqlite"]


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
