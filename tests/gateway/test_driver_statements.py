"""Statements run on the driver's cursor (gateway/store/driver_statements.py) answer as the same
statements through SQLAlchemy do, and fail with SQLAlchemy's errors, without their values.
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.principals.replay import SeenTokenInsert
from gateway.store.driver_statements import DriverStatement, Prepared
from gateway.store.engine import Database
from gateway.store.tables import AuditNode, SeenToken

_nodes = AuditNode.__table__  # type: ignore[attr-defined]
# A literal in the WHERE clause is a bound parameter the statement carries itself.
_AT_LEVEL_ZERO_FROM = (select(_nodes.c.idx, _nodes.c.hash)
                       .where(_nodes.c.level == 0, _nodes.c.idx >= bindparam("start"))
                       .order_by(_nodes.c.idx))


def test_rows_and_inserts_match_what_sqlalchemy_runs(db: Database) -> None:
    rows = [{"level": level, "idx": idx, "hash": bytes([idx]) * 32} for level in (0, 1) for idx in range(4)]
    with db.engine.begin() as connection:
        DriverStatement(insert(_nodes), connection.dialect, columns=("level", "idx", "hash")).many(connection, rows)
        found = DriverStatement(_AT_LEVEL_ZERO_FROM, connection.dialect).rows(connection, {"start": 2})
        expected = [tuple(row) for row in connection.execute(_AT_LEVEL_ZERO_FROM, {"start": 2})]
    assert [(idx, bytes(digest)) for idx, digest in found] == [(2, b"\x02" * 32), (3, b"\x03" * 32)]
    assert [(idx, bytes(digest)) for idx, digest in expected] == [(idx, bytes(digest)) for idx, digest in found]


def test_a_statement_without_rows_returns_none_and_an_empty_insert_runs_nothing(db: Database) -> None:
    with db.engine.begin() as connection:
        DriverStatement(insert(_nodes), connection.dialect, columns=("level", "idx", "hash")).many(connection, [])
        assert DriverStatement(_AT_LEVEL_ZERO_FROM, connection.dialect).rows(connection, {"start": 0}) == []
        deleted = DriverStatement(_nodes.delete().where(_nodes.c.level == 7), connection.dialect)
        assert deleted.rows(connection) == []


def test_a_refused_insert_is_sqlalchemys_integrity_error_without_its_values(db: Database) -> None:
    secret = b"\xab" * 32
    statement = DriverStatement(insert(_nodes), db.engine.dialect, columns=("level", "idx", "hash"))
    with pytest.raises(IntegrityError) as raised, db.engine.begin() as connection:
        statement.many(connection, [{"level": 0, "idx": 1, "hash": secret}, {"level": 0, "idx": 1, "hash": secret}])
    message = str(raised.value)
    assert "\\xab" not in message and secret.hex() not in message
    assert raised.value.orig is not None  # the driver's own error, for the writer's log line


def test_a_prepared_read_answers_as_sqlalchemy_does_and_compiles_once_per_dialect(db: Database) -> None:
    rows = [{"level": 0, "idx": idx, "hash": bytes([idx]) * 32} for idx in range(3)]
    prepared = Prepared(_AT_LEVEL_ZERO_FROM)
    with db.engine.begin() as connection:
        connection.execute(insert(_nodes), rows)
        assert prepared.rows(connection, {"start": 1}) == [tuple(row) for row in
                                                             connection.execute(_AT_LEVEL_ZERO_FROM, {"start": 1})]
        assert prepared.first(connection, {"start": 2}) == (2, b"\x02" * 32)
        assert prepared.scalar(connection, {"start": 1}) == 1
        assert prepared.first(connection, {"start": 3}) is None
        assert prepared.scalar(connection, {"start": 3}) is None
    assert list(prepared._compiled) == [db.engine.dialect.name]


@pytest.mark.parametrize("count", [1, 3, 4, 5])
def test_seen_tokens_are_recorded_in_one_statement_that_returns_only_the_new_ones(db: Database, count: int) -> None:
    _seen = SeenToken.__table__  # type: ignore[attr-defined]
    inserts = SeenTokenInsert(db.engine.dialect)
    with db.engine.begin() as connection:
        assert inserts.recorded(connection, [("bka-de", "old", 10)]) == {("bka-de", "old")}
        assert inserts.recorded(connection, []) == set()
        # count new jtis (padded up to a power of two with repeats of the last), then the old one
        tokens = [("bka-de", f"new-{n}", 20 + n) for n in range(count)]
        assert inserts.recorded(connection, [*tokens, ("bka-de", "old", 99)]) == {(i, j) for i, j, _ in tokens}
        assert inserts.recorded(connection, [("bka-de", "new-0", 5), ("fbi", "new-0", 6)]) == {("fbi", "new-0")}
        stored = sorted(tuple(row) for row in connection.execute(select(_seen.c.issuer, _seen.c.jti,
                                                                         _seen.c.expires_at)))
    assert stored == sorted([("bka-de", "old", 10), ("fbi", "new-0", 6), *tokens])  # an old row keeps its expiry
    assert sorted(inserts._statements) == sorted({1, 2, 1 << count.bit_length()})


def _lose(connection: Connection, db: Database) -> None:
    """Cut ``connection`` from its database underneath SQLAlchemy, as a restart or a network fault would."""
    if db.dialect == "postgresql":
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        connection.commit()
        with db.engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    else:
        connection.connection.dbapi_connection.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("run", ["rows", "many"])
def test_a_lost_connection_is_invalidated_and_the_pool_hands_out_a_live_one(db: Database, run: str) -> None:
    read = DriverStatement(_AT_LEVEL_ZERO_FROM, db.engine.dialect)
    write = DriverStatement(insert(_nodes), db.engine.dialect, columns=("level", "idx", "hash"))
    with db.engine.connect() as connection:
        _lose(connection, db)
        statement: Callable[[], object] = ((lambda: read.rows(connection, {"start": 0})) if run == "rows" else
                                           (lambda: write.many(connection, [{"level": 0, "idx": 0,
                                                                             "hash": b"\x00" * 32}])))
        with pytest.raises(DBAPIError) as raised:
            statement()
        assert raised.value.connection_invalidated
        assert connection.invalidated, "the pool must not hand this connection to the next request"
    with db.engine.connect() as connection:
        assert read.rows(connection, {"start": 0}) == []
