"""Every statement a disclosure runs is served by an index (issue 12): EXPLAIN QUERY PLAN on
SQLite shows no full scan, and EXPLAIN on PostgreSQL, with sequential scans priced out, shows no
``Seq Scan`` (it still picks one when no index can serve the statement)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.sql import Executable

from gateway.audit.tree import prefetch_statement
from gateway.audit.usage import count_disclosures, usage_columns
from gateway.orders.service import _LOAD_APPROVALS, _LOAD_ORDER, _REVOKED_IN_LOG
from gateway.principals.registry import _KEY, _PRINCIPAL
from gateway.principals.replay import _SEEN
from gateway.store.tables import AuditEntry, AuditNode, OrderRow
from gateway.store.versions import _READ
from gateway.subjects.events import window_bounds
from tests.support.harness import Harness

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_orders = OrderRow.__table__  # type: ignore[attr-defined]


def per_request_statements(gateway: Harness) -> dict[str, tuple[Executable, dict[str, Any]]]:
    subjects = gateway.services.subjects
    return {
        "state version": (_READ.statement, {"name": "reviews"}),
        "token key: principal": (_PRINCIPAL.statement, {"id": "bka-de"}),
        "token key: key": (_KEY.statement, {"id": "bka-de", "kid": "0" * 16}),
        "replay pre-check": (_SEEN.statement, {"issuer": "bka-de", "jti": "j"}),
        "order row with its count's proof": (_LOAD_ORDER.statement, {"order_id": "ord_x"}),
        "order's revocation in the log": (_REVOKED_IN_LOG.statement, {"order_id": "ord_x"}),
        "approvals, reviewers and keys": (_LOAD_APPROVALS, {"order_id": "ord_x"}),
        "subject by id": (subjects._read_sealed.statement, {"id": "sub_x"}),
        "subject by blind index": (subjects._read_index.statement, {"kind": "phone", "digest": b"\x00" * 32}),
        "subject's events in a window": (subjects._read_window.statement, window_bounds(
            "sub_x", "ip", (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)))),
        "writer: log size": (select(func.max(_entries.c.idx)), {}),
        "writer: order to charge": (select(*usage_columns()).where(_orders.c.id == bindparam("o")), {"o": "ord_x"}),
        "writer: tree node": (select(_nodes.c.hash).where(_nodes.c.level == bindparam("l"),
                                                          _nodes.c.idx == bindparam("i")), {"l": 0, "i": 5}),
        "count fallback (one order's own entries)": (count_disclosures("ord_x"), {}),
        "writer and proofs: tree nodes at once": prefetch_statement([(0, 6), (1, 2), (3, 0)]),
    }


def plan(connection: Connection, statement: Executable, values: dict[str, Any]) -> str:
    compiled = statement.compile(dialect=connection.dialect)  # type: ignore[attr-defined]
    params = compiled.construct_params(values)
    args: Any = tuple(params[name] for name in compiled.positiontup) if compiled.positional else params
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, args).all()
        return "\n".join(str(row[-1]) for row in rows)
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = connection.exec_driver_sql("EXPLAIN " + compiled.string, args).all()
    return "\n".join(str(row[0]) for row in rows)


def full_scans(connection: Connection, text: str) -> list[str]:
    if connection.dialect.name == "sqlite":
        return [line for line in text.splitlines() if line.startswith("SCAN") and "CONSTANT ROW" not in line]
    return [line for line in text.splitlines() if "Seq Scan" in line]


def test_every_per_request_statement_uses_an_index(gateway: Harness) -> None:
    scans = {}
    with gateway.services.db.engine.begin() as connection:
        for name, (statement, values) in per_request_statements(gateway).items():
            found = full_scans(connection, plan(connection, statement, values))
            if found:
                scans[name] = found
    assert scans == {}


def test_the_check_can_see_a_full_scan(gateway: Harness) -> None:
    unindexed = select(_entries.c.idx).where(_entries.c.entry == "x")
    with gateway.services.db.engine.begin() as connection:
        assert full_scans(connection, plan(connection, unindexed, {})) != []
