"""Engines and sessions for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
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

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
