"""`gateway keys rotate signing` run as the README shows, with two `gateway serve` processes on one
database (PostgreSQL when configured; SQLite sharing one file always) serving under load: the
load goes on through the rotation, both processes sign with the new key within seconds, every
checkpoint past the rotation's size is signed by the new key, and `gateway audit verify` exits 0."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from crypto.errors import NoteError
from crypto.keys import encode_public_key
from crypto.note import NoteVerifier, verify_checkpoint
from gateway.audit.checkpoints import note_name
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.store.engine import Database
from gateway.store.tables import AuditCheckpoint
from tests.support.server import audit_cli, load, register, server_env, start_server

pytestmark = pytest.mark.e2e

_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_KEYS = [sys.executable, "-c", "from gateway.cli.main import run; run()", "keys"]
THREADS = 4
LOAD_BEFORE, LOAD_AFTER, TAKE_OVER_WITHIN = 1.0, 2.0, 5.0  # seconds


def signed_by(note: str, origin: str, key: bytes) -> bool:
    with contextlib.suppress(NoteError):
        verify_checkpoint(note, NoteVerifier.for_key(note_name(origin), key), origin=origin)
        return True
    return False


def signing_key_served(base_url: str) -> str:
    return str(httpx.get(f"{base_url}/.well-known/disclosure-gateway", timeout=5).json()["gateway_signing_key"])


def test_rotation_under_load_on_two_processes_ends_with_a_log_that_verifies(settings: Settings,
                                                                             tmp_path: Path) -> None:
    old_key = bytes(load_gateway_keys(settings).signing_key.verify_key)
    key = register(settings, "oversight")
    # Checkpoints every half second and every 16 entries, so each process signs several after the rotation.
    env = server_env(settings, GATEWAY_CHECKPOINT_EVERY_SECONDS="0.5", GATEWAY_CHECKPOINT_EVERY_ENTRIES="16")
    servers = [start_server(env, tmp_path, "first"), start_server(env, tmp_path, "second")]
    stop = threading.Event()
    received: list[tuple[int, dict[str, Any]]] = []
    loader = threading.Thread(target=lambda: received.extend(load(
        [s.base_url for s in servers], threads=THREADS, settings=settings, key=key, principal="oversight",
        until=lambda sent: stop.is_set() or sent >= 2000)))
    try:
        loader.start()
        stop.wait(LOAD_BEFORE)  # the load runs meanwhile
        rotated = subprocess.run([*_KEYS, "rotate", "signing"], env=env, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=60, check=False)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        found = re.search(r"at tree size (\d+)", " ".join(rotated.stdout.split()))
        assert found is not None, rotated.stdout
        rotated_at = int(found.group(1))
        new_key = bytes(load_gateway_keys(settings).signing_key.verify_key)
        assert new_key != old_key

        # Both processes take the new key within seconds, load or not.
        deadline = time.monotonic() + TAKE_OVER_WITHIN
        while {signing_key_served(s.base_url) for s in servers} != {encode_public_key(new_key)}:
            assert time.monotonic() < deadline, "a gateway process still serves the retired key"
            stop.wait(0.1)
        stop.wait(LOAD_AFTER)
    finally:
        stop.set()
        loader.join(60)
        for server in servers:
            server.stop()

    assert received and {status for status, _ in received} <= {200, 401}, {status for status, _ in received}
    db = Database(settings.sqlalchemy_url)
    try:
        with db.engine.connect() as connection:
            stored = connection.execute(select(_checkpoints.c.tree_size, _checkpoints.c.note)).all()
    finally:
        db.dispose()
    after = {int(size): note for size, note in stored if int(size) > rotated_at}
    assert len(after) >= 2, sorted(after)  # the load went on past the rotation, checkpointed
    assert [size for size, note in after.items() if not signed_by(note, settings.origin, new_key)] == []
    assert all(signed_by(note, settings.origin, old_key) for size, note in stored if int(size) <= rotated_at)

    verified = audit_cli(env, tmp_path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{len(stored)} stored checkpoints" in verified.stdout
