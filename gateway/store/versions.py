"""State versions: what a process may cache, and how every process learns that it went stale.

A change that can withdraw something cached (an approval added or undone, a principal suspended or
reinstated, a key added or retired, an order revoked) bumps the ``reviews`` version in its own
transaction. A reader reads the version by primary key first, then the rows it caches, and keeps
what it built only under that version: a change committed meanwhile has a higher version, so the
next request rebuilds. No time-to-live: a revoked order or a suspended reviewer stops counting on
the next request in every process sharing the database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, Update, bindparam, select, update
from sqlalchemy.orm import Session

from gateway.store.driver_statements import Prepared
from gateway.store.tables import StateVersion

__all__ = ["REVIEWS", "bump", "bump_statement", "current", "read_version"]

REVIEWS = "reviews"
_versions = StateVersion.__table__  # type: ignore[attr-defined]
# Built once: constructing a statement costs more than running it on this path.
_READ = Prepared(select(_versions.c.version).where(_versions.c.name == bindparam("name")))


def read_version(name: str = REVIEWS) -> Select[Any]:
    return select(_versions.c.version).where(_versions.c.name == name)


def bump_statement(name: str = REVIEWS) -> Update:
    return update(_versions).where(_versions.c.name == name).values(version=_versions.c.version + 1)


def bump(session: Session | Connection, name: str = REVIEWS) -> None:
    """Bump ``name`` in the caller's transaction, so the change and the bump commit together."""
    session.execute(bump_statement(name))


def current(connection: Connection | Session, name: str = REVIEWS) -> int:
    """The version now; -1 if the row is missing (a database not migrated: nothing is ever cached)."""
    if isinstance(connection, Connection):
        found = _READ.scalar(connection, {"name": name})
    else:
        found = connection.execute(_READ.statement, {"name": name}).scalar_one_or_none()
    return -1 if found is None else int(found)
