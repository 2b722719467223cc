"""Conditional writes (gateway/store/conditional.py): a change stands only on the state it was decided
on, and a decision that lost its race is taken again on what is stored now. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gateway.errors import BadRequest
from gateway.store.conditional import ATTEMPTS, compare_and_set, decide, hold
from gateway.store.engine import Database
from gateway.store.tables import StateVersion

_versions = StateVersion.__table__  # type: ignore[attr-defined]
KEY = {"name": "test"}


def stored(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(select(_versions.c.version).where(_versions.c.name == "test")).scalar_one())


def set_to(db: Database, version: int) -> None:
    """Another request's decision, committed between a read and a write."""
    with db.session() as session:
        compare_and_set(session, _versions, KEY, {}, {"version": version})


@pytest.fixture
def row(db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(insert(_versions).values(name="test", version=1))


@pytest.mark.usefixtures("row")
def test_a_write_stands_only_on_the_state_it_read(db: Database) -> None:
    with db.session() as session:
        assert compare_and_set(session, _versions, KEY, {"version": 1}, {"version": 2})
    with db.session() as session:
        assert not compare_and_set(session, _versions, KEY, {"version": 1}, {"version": 3})
        assert hold(session, _versions, KEY, {"version": 2}) and not hold(session, _versions, KEY, {"version": 1})
    assert stored(db) == 2


@pytest.mark.usefixtures("row")
def test_a_lost_race_is_decided_again_and_refused_as_a_late_caller(db: Database) -> None:
    reads: list[int] = []

    def attempt(session: Session) -> bool | None:
        seen = int(session.scalars(select(_versions.c.version).where(_versions.c.name == "test")).one())
        reads.append(seen)
        if seen != 1:
            raise BadRequest("decided already")  # the handler's own check, as a late caller meets it
        if len(reads) == 1:
            set_to(db, 5)  # someone else decides between this read and this write
        return compare_and_set(session, _versions, KEY, {"version": seen}, {"version": 2}) or None

    with pytest.raises(BadRequest, match="decided already"):
        decide(db, attempt)
    assert reads == [1, 5] and stored(db) == 5


@pytest.mark.usefixtures("row")
def test_a_decision_that_loses_every_race_is_refused_not_retried_forever(db: Database) -> None:
    tries: list[int] = []

    def attempt(session: Session) -> bool | None:
        tries.append(1)
        return compare_and_set(session, _versions, KEY, {"version": 0}, {"version": 2}) or None

    with pytest.raises(BadRequest, match="send it again"):
        decide(db, attempt)
    assert len(tries) == ATTEMPTS and stored(db) == 1
