"""`gateway keys rotate signing` with the gateway serving (docs/PROTOCOL.md §13): a process that
still holds the retired key cannot store a checkpoint it signed past the key's end, a serving
process takes the new key over, and `audit verify` passes; a checkpoint forged with the retired
key past its end is named as such."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import func, insert, select
from typer.testing import Result

from crypto import merkle
from crypto.errors import NoteError
from crypto.keys import encode_public_key
from crypto.note import NoteVerifier, sign_checkpoint, verifier_key_string, verify_checkpoint
from gateway.app import discovery_document
from gateway.audit.checkpoints import CheckpointPolicy, lock_log, note_name
from gateway.audit.model import Decision
from gateway.audit.tree import DbTreeSource
from gateway.audit.writer import AuditWriter
from gateway.cli.main import app
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.maintenance.rotation import rotate_signing
from gateway.services import Services
from gateway.store.engine import Database
from gateway.store.tables import AuditCheckpoint
from tests.support.audit import event
from tests.support.operator import operator_cli

_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]


@pytest.fixture
def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    return operator_cli(app, settings, monkeypatch, workdir=tmp_path)


def signers_of_checkpoints(db: Database, origin: str, keys: dict[str, SigningKey]) -> dict[int, str]:
    """Each stored checkpoint's size and the name (in ``keys``) of the key whose signature verifies."""
    verifiers = {name: NoteVerifier.for_key(note_name(origin), bytes(key.verify_key)) for name, key in keys.items()}
    with db.engine.connect() as connection:
        notes = connection.execute(select(_checkpoints.c.tree_size, _checkpoints.c.note)).all()
    found: dict[int, str] = {}
    for size, note in notes:
        for name, verifier in verifiers.items():
            with contextlib.suppress(NoteError):
                verify_checkpoint(note, verifier, origin=origin)
                found[int(size)] = name
    return found


def latest_size(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(select(func.max(_checkpoints.c.tree_size))).scalar_one())


def test_a_serving_process_takes_the_new_key_and_a_stale_one_signs_nothing_past_the_old_keys_end(
        settings: Settings, db: Database, run: Callable[..., Result]) -> None:
    old_key = load_gateway_keys(settings).signing_key
    services = Services.build(settings)  # a serving process: it loaded the old key
    stale = AuditWriter(settings.sqlalchemy_url, checkpoint_key=old_key, origin=settings.origin,
                        policy=CheckpointPolicy(every_entries=4, every_seconds=3600))  # a tool holding the old key
    try:
        for _ in range(5):
            services.audit.append_sync(event(Decision.REFUSED))
        services.checkpointer.tick(0.0)  # its first poll: the interval counts from here
        assert services.checkpointer.tick(10_000.0) == 5

        rotation = rotate_signing(settings)  # as the README runs it: the gateway serving
        assert rotation.tree_size == 5
        new_key = load_gateway_keys(settings).signing_key
        assert bytes(new_key.verify_key) == bytes(rotation.new_key) != bytes(old_key.verify_key)

        # The stale writer crosses its every-4 boundary at 8: the entries commit, but the log's key
        # record refuses its checkpoint of 8 by the key retired at 5.
        receipts = [stale.append_sync(event(Decision.REFUSED)) for _ in range(3)]
        assert [r.index for r in receipts] == [5, 6, 7]
        stale.checkpoint_now()
        assert latest_size(db) == 5  # neither its checkpoint of 8 nor of 10 was stored
        # The serving process takes the new key on its next poll and signs with it.
        for _ in range(2):
            services.audit.append_sync(event(Decision.SERVED))
        assert services.checkpointer.tick(20_000.0) == 10
        assert bytes(services.keys.signing_key.verify_key) == bytes(new_key.verify_key)
        assert bytes(services.audit.signer.signing_key.verify_key) == bytes(new_key.verify_key)
        document = discovery_document(services)
        assert document["gateway_signing_key"] == encode_public_key(new_key.verify_key)
        listed = document["checkpoint_verifier_keys"]
        assert [(k["from_size"], k["until_size"]) for k in listed] == [(0, 5), (5, None)]
    finally:
        stale.close()
        services.close()

    signed = signers_of_checkpoints(db, settings.origin, {"old": old_key, "new": new_key})
    assert {size: name for size, name in signed.items() if size > 5} == {10: "new"}
    assert all(name == "old" for size, name in signed.items() if size <= 5)
    verified = run("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_a_checkpoint_forged_with_the_retired_key_past_its_end_is_named_by_audit_verify(
        settings: Settings, db: Database, run: Callable[..., Result]) -> None:
    old_key = load_gateway_keys(settings).signing_key
    writer = AuditWriter(settings.sqlalchemy_url, checkpoint_key=old_key, origin=settings.origin,
                         policy=CheckpointPolicy(every_entries=2**62, every_seconds=3600))
    try:
        for _ in range(3):
            writer.append_sync(event(Decision.REFUSED))
        rotation = rotate_signing(settings)
        assert rotation.tree_size == 3
        for _ in range(4):
            writer.append_sync(event(Decision.SERVED))
    finally:
        writer.close()  # its closing checkpoint of 7 is refused: the old key ended at 3
    assert run("audit", "verify").exit_code == 0

    # Whoever kept the retired key signs the log at 7 and writes that into the database.
    with db.engine.begin() as connection:
        lock_log(connection)
        root = merkle.root(DbTreeSource(connection), 7)
        connection.execute(insert(_checkpoints).values(
            tree_size=7, root_hash=root, created_at=0,
            note=sign_checkpoint(settings.origin, 7, root, note_name(settings.origin), old_key)))
    verified = run("audit", "verify")
    assert verified.exit_code == 1
    retired = verifier_key_string(note_name(settings.origin), bytes(old_key.verify_key))
    message = " ".join(verified.output.split())
    assert (f"at checkpoint at tree size 7: it is signed by the retired key {retired}, whose end is tree size 3"
            in message), message
    assert "a retired key cannot sign past its end" in message
