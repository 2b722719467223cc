"""Statements run on the driver's cursor (gateway/store/driver_statements.py) answer as the same
statements through SQLAlchemy do, and fail with SQLAlchemy's errors, without their values.
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

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


def test_changed_counts_an_insert_that_conflicts_as_nothing(db: Database) -> None:
    _seen = SeenToken.__table__  # type: ignore[attr-defined]
    dialect = postgresql if db.dialect == "postgresql" else sqlite
    statement = DriverStatement(dialect.insert(_seen).on_conflict_do_nothing(index_elements=["issuer", "jti"]),
                                db.engine.dialect, columns=("issuer", "jti", "expires_at"))
    with db.engine.begin() as connection:
        assert statement.changed(connection, {"issuer": "bka-de", "jti": "j1", "expires_at": 10}) == 1
        assert statement.changed(connection, {"issuer": "bka-de", "jti": "j1", "expires_at": 11}) == 0
        assert statement.changed(connection, {"issuer": "bka-de", "jti": "j2", "expires_at": 10}) == 1
        stored = sorted(tuple(row) for row in connection.execute(select(_seen.c.jti, _seen.c.expires_at)))
    assert stored == [("j1", 10), ("j2", 10)]
