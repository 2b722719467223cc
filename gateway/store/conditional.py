"""State changes as conditional writes, so that every decision is taken once.

A handler reads a row, checks that the change is allowed from the state it read, and writes. Between
its read and its write another request may decide the same row. So the write names the state it was
decided on, ``UPDATE ... WHERE id = :id AND status = :seen``, and counts the rows it changed: one, and
the decision stands, in the same transaction as whatever else the change writes; none, and the state
moved on: :func:`decide` runs the handler again on what is stored now, and the handler's own check
then refuses it exactly as it refuses a late caller.

It holds on SQLite (one writer at a time: the write and its condition are one step) and on
PostgreSQL (the winner holds the row's lock until it commits; READ COMMITTED then re-checks the
loser's condition against the row the winner committed). A write whose values are the state it
read (:func:`hold`) changes nothing and keeps the row from being decided by anyone else until the
transaction ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Table, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from gateway.errors import BadRequest
from gateway.store.engine import Database

__all__ = ["ATTEMPTS", "compare_and_set", "decide", "hold"]

T = TypeVar("T")
ATTEMPTS = 4
"""How often :func:`decide` reads again after losing a race. Each lost race means someone else's
decision committed; the next read refuses unless that decision was undone meanwhile."""


def compare_and_set(session: Session, table: Table, key: Mapping[str, object], seen: Mapping[str, object],
                    values: Mapping[str, object]) -> bool:
    """``UPDATE table SET values WHERE key AND every column of seen still holds what was read``
    (``None`` compares as ``IS NULL``), in the session's transaction; whether the one row changed."""
    condition = [table.c[name] == value for name, value in key.items()]
    condition += [table.c[name].is_(None) if value is None else table.c[name] == value
                  for name, value in seen.items()]
    result: CursorResult[Any] = session.execute(update(table).where(*condition).values(**values))  # type: ignore[assignment]
    return result.rowcount == 1


def hold(session: Session, table: Table, key: Mapping[str, object], seen: Mapping[str, object]) -> bool:
    """Whether the row still holds ``seen``; if so, it stays so until the session's transaction ends
    (the write that changes nothing takes the row's lock on PostgreSQL, the write lock on SQLite)."""
    return compare_and_set(session, table, key, seen, seen)


def decide(db: Database, attempt: Callable[[Session], T | None], *, attempts: int = ATTEMPTS) -> T:
    """Run ``attempt`` (read, check, conditional write, the rest of the change) in a transaction of
    its own until it returns a result; ``None`` means its conditional write found the state changed.
    The conditional write must be the attempt's first write, so a lost race commits nothing."""
    for _ in range(attempts):
        with db.session() as session:
            result = attempt(session)
        if result is not None:
            return result
    raise BadRequest("the state changed under this request each time it was decided; send it again")
