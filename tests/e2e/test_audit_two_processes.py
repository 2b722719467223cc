"""Two `gateway serve` processes on one database (PostgreSQL when configured; SQLite sharing one
file always) and many concurrent clients: exactly one entry per request, indexes 0..n-1, and a log
that verifies (issue 6, "Done when")."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.config import Settings
from gateway.store.engine import Database
from gateway.store.tables import AuditEntry
from tests.support.server import audit_cli, load, register, server_env, start_server

pytestmark = pytest.mark.e2e

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
THREADS, EACH = 8, 25


def test_two_servers_on_one_database_write_one_dense_log(settings: Settings, tmp_path: Path) -> None:
    key = register(settings, "oversight")
    env = server_env(settings)
    servers = [start_server(env, tmp_path, "first"), start_server(env, tmp_path, "second")]
    try:
        received = load([s.base_url for s in servers], threads=THREADS, settings=settings, key=key,
                        principal="oversight", until=lambda sent: sent >= EACH)
    finally:
        for server in servers:
            server.stop()
    assert len(received) == THREADS * EACH
    assert {status for status, _ in received} == {200, 401}
    receipts = [body["extensions"]["audit"] for _, body in received]

    db = Database(settings.sqlalchemy_url)
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(select(_entries.c.idx, _entries.c.request_id).order_by(_entries.c.idx)).all()
    finally:
        db.dispose()
    assert [int(r.idx) for r in rows] == list(range(THREADS * EACH))
    assert {r.request_id: int(r.idx) for r in rows} == {r["request_id"]: r["index"] for r in receipts}

    verified = audit_cli(env, tmp_path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{THREADS * EACH} entries" in verified.stdout
