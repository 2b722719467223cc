"""`gateway keys rotate signing` with the gateway serving (docs/PROTOCOL.md §13): a process that
still holds the retired key cannot store a checkpoint it signed past the key's end, a serving
process takes the new key over, and `audit verify` passes; a checkpoint forged with the retired
key past its end is named as such."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import func, insert, select, update
from starlette.testclient import TestClient
from typer.testing import Result

from crypto import merkle
from crypto.errors import NoteError
from crypto.keys import encode_public_key
from crypto.note import NoteVerifier, sign_checkpoint, verifier_key_string, verify_checkpoint
from gateway.app import create_app, discovery_document
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
from gateway.store.tables import AuditCheckpoint, AuditSigningKey
from tests.support.audit import event
from tests.support.operator import operator_cli

_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_signing_keys = AuditSigningKey.__table__  # type: ignore[attr-defined]


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


def pod(make_settings: Callable[..., Settings], settings: Settings, tmp_path: Path, name: str, *,
        staged: bool) -> Settings:
    """A process whose keys directory is its own copy of the operator's (a pod's, copied from the
    Secret at start), with or without the staged next key."""
    config = make_settings(database_url=settings.sqlalchemy_url, data_dir=tmp_path / name)
    shutil.copytree(settings.keys_dir, config.keys_dir)
    if not staged:
        (config.keys_dir / "checkpoint.sign.key.next").unlink()
    return config


def test_keys_from_a_read_only_secret_the_staged_key_is_taken_and_a_pod_without_it_is_not_ready(
        settings: Settings, db: Database, make_settings: Callable[..., Settings], tmp_path: Path,
        run: Callable[..., Result]) -> None:
    old_key = load_gateway_keys(settings).signing_key
    staged = rotate_signing(settings, stage_only=True)  # on the operator's machine
    assert staged.tree_size is None
    assert bytes(load_gateway_keys(settings).signing_key.verify_key) == bytes(old_key.verify_key)
    ready = Services.build(pod(make_settings, settings, tmp_path, "ready", staged=True))
    behind = Services.build(pod(make_settings, settings, tmp_path, "behind", staged=False))
    try:
        for services in (ready, behind):
            services.checkpointer.tick(0.0)
            services.audit.append_sync(event(Decision.REFUSED))
        assert ready.checkpointer.tick(10_000.0) == 2  # by the old key: the staged one waits for the handover

        rotation = rotate_signing(settings)
        assert rotation.tree_size == 2
        for services in (ready, behind):
            services.audit.append_sync(event(Decision.SERVED))
        assert behind.checkpointer.tick(10_000.0) is None  # refused, and the new key is not in its directory
        assert behind.current_key.retired
        with TestClient(create_app(behind.settings, services=behind)) as client:
            answer = client.get("/readyz")
        assert answer.status_code == 503 and answer.json()["signing_key"] == "retired"

        assert ready.checkpointer.tick(20_000.0) == 4
        assert not ready.current_key.retired
        assert bytes(ready.keys.signing_key.verify_key) == bytes(rotation.new_key)
        listed = discovery_document(ready)["checkpoint_verifier_keys"]
        assert [(k["from_size"], k["until_size"]) for k in listed] == [(0, 2), (2, None)]
    finally:
        ready.close()
        behind.close()
    new_key = load_gateway_keys(settings).signing_key
    signed = signers_of_checkpoints(db, settings.origin, {"old": old_key, "new": new_key})
    assert signed == {0: "old", 2: "old", 4: "new"}
    assert run("audit", "verify").exit_code == 0


def test_a_handover_edited_in_the_database_is_not_taken(
        settings: Settings, db: Database, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    rotate_signing(settings, stage_only=True)
    services = Services.build(pod(make_settings, settings, tmp_path, "pod", staged=True))
    try:
        services.audit.append_sync(event(Decision.REFUSED))
        rotation = rotate_signing(settings)
        # Moving the boundary would let the retired key sign further, were it trusted.
        with db.engine.begin() as connection:
            connection.execute(update(_signing_keys).where(_signing_keys.c.until_size.is_(None))
                               .values(from_size=1000))
        with db.engine.connect() as connection:
            assert not services.current_key.follow(connection)
        assert bytes(services.keys.signing_key.verify_key) != bytes(rotation.new_key)
        assert services.current_key.retired
    finally:
        services.close()
