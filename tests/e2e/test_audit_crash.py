"""SIGKILL under concurrent load: every response a client received has its entry after a restart,
and the log verifies (issue 6, "Done when")."""

from __future__ import annotations

import base64
import itertools
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from crypto.merkle import leaf_hash
from gateway.config import Settings
from gateway.maintenance.initialize import initialize
from gateway.store.engine import Database
from gateway.store.tables import AuditEntry
from tests.support.server import WHOAMI, audit_cli, graphql_body, load, register, server_env, start_server

pytestmark = pytest.mark.e2e

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_REQUESTS_BEFORE_THE_KILL = 200


def test_every_received_response_has_its_entry_after_a_sigkill(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", id="gateway.e2e", _env_file=None)  # type: ignore[call-arg]
    initialize(settings)
    key = register(settings, "oversight")
    env = server_env(settings)
    server = start_server(env, tmp_path, "first")
    killed = threading.Event()
    started = itertools.count(1)

    def kill_after_enough_load(_: int) -> bool:
        # Counted, not timed: the kill lands while the other threads' requests are in flight.
        if not killed.is_set() and next(started) == _REQUESTS_BEFORE_THE_KILL:
            server.kill()
            killed.set()
        return killed.is_set()

    received = load([server.base_url], threads=6, settings=settings, key=key, principal="oversight",
                    until=kill_after_enough_load)
    audited = [body["extensions"]["audit"] for _, body in received if "audit" in body.get("extensions", {})]
    assert len(audited) > 30, f"too little load before the kill: {len(received)} responses"
    assert {status for status, _ in received} <= {200, 401, 503}

    again = start_server(env, tmp_path, "second")
    try:
        after = httpx.post(again.base_url + "/graphql", content=graphql_body(WHOAMI),
                           headers={"content-type": "application/json"}, timeout=10)
        assert after.status_code == 401
        assert after.json()["extensions"]["audit"]["index"] > max(a["index"] for a in audited)
    finally:
        again.stop()

    db = Database(settings.sqlalchemy_url)
    try:
        with db.engine.connect() as connection:
            rows = {int(r.idx): r for r in connection.execute(select(_entries.c.idx, _entries.c.request_id,
                                                                     _entries.c.entry, _entries.c.leaf_hash))}
    finally:
        db.dispose()
    for receipt in audited:
        row = rows.get(receipt["index"])
        assert row is not None, f"entry {receipt['index']} was answered but is gone"
        assert row.request_id == receipt["request_id"]
        assert base64.b64encode(bytes(row.leaf_hash)).decode() == receipt["leaf_hash"]
        assert leaf_hash(row.entry.encode()) == bytes(row.leaf_hash)
    assert sorted(rows) == list(range(len(rows)))

    verified = audit_cli(env, tmp_path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{len(rows)} entries" in verified.stdout
