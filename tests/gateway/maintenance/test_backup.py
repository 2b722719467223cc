"""`gateway keys backup` / `gateway keys restore` (docs/PROTOCOL.md §13): age-encrypted, opened by
the standard `age` tool, and checked against the database before anything is written."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pyrage
import pytest
from typer.testing import Result

from gateway.audit.checkpoints import CheckpointPolicy
from gateway.audit.model import Decision
from gateway.audit.writer import AuditWriter
from gateway.cli.main import app
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.keys.vault import Vault
from gateway.maintenance.initialize import initialize
from gateway.store.engine import Database
from gateway.subjects.store import SubjectStore
from gateway.subjects.synthetic import generate_subjects
from tests.support.audit import event
from tests.support.operator import operator_cli


def cli(config: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    return operator_cli(app, config, monkeypatch)


def populate(config: Settings, subjects: int = 5) -> list[str]:
    """Subjects and a log with a checkpoint; return the subjects' ids."""
    db = Database(config.sqlalchemy_url)
    try:
        generated = list(generate_subjects(subjects, seed=5))
        SubjectStore(db, Vault.from_keys(load_gateway_keys(config))).import_lines(json.dumps(s) for s in generated)
    finally:
        db.dispose()
    writer = AuditWriter(config.sqlalchemy_url, checkpoint_key=load_gateway_keys(config).signing_key,
                         origin=config.origin, policy=CheckpointPolicy(3, 3600))
    try:
        for _ in range(7):
            writer.append_sync(event(Decision.REFUSED))
        writer.checkpoint_now()
    finally:
        writer.close()
    return [s["id"] for s in generated]


def all_open(config: Settings, ids: list[str]) -> bool:
    db = Database(config.sqlalchemy_url)
    try:
        store = SubjectStore(db, Vault.from_keys(load_gateway_keys(config)))
        return all(store.get(i) is not None and store.find_by_phone(store.get(i).phone) == i  # type: ignore[union-attr]
                   for i in ids)
    finally:
        db.dispose()


@pytest.fixture
def age_identity(tmp_path: Path) -> tuple[Path, str]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / "backup-identity.txt"
    path.write_text(f"# for the test\n{identity}\n")
    path.chmod(0o600)
    return path, str(identity.to_public())


def test_backup_delete_restore_then_subjects_open_and_the_log_verifies(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, age_identity: tuple[Path, str]) -> None:
    monkeypatch.chdir(tmp_path)
    run = cli(settings, monkeypatch)
    ids = populate(settings)
    before = {p.name: p.read_bytes() for p in settings.keys_dir.iterdir()}
    identity_file, recipient = age_identity
    backup = tmp_path / "keys.age"
    made = run("keys", "backup", "--out", str(backup), "--recipient", recipient)
    assert made.exit_code == 0, made.output
    assert backup.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert backup.stat().st_mode & 0o777 == 0o600

    # The standard tool opens it: the format is age's, not ours.
    age = shutil.which("age")
    assert age is not None, "the age CLI is missing: apt-get install age (.ci/run installs it)"
    opened = subprocess.run([age, "--decrypt", "-i", str(identity_file), str(backup)], capture_output=True,
                            check=True, timeout=30)
    inside = json.loads(opened.stdout)
    assert inside["gateway_id"] == settings.id
    assert {name: text.encode() for name, text in inside["files"].items()} == before

    shutil.rmtree(settings.keys_dir)
    assert run("audit", "verify").exit_code == 2  # without its keys the gateway cannot even check its log

    restored = run("keys", "restore", str(backup), "--identity", str(identity_file))
    assert restored.exit_code == 0, restored.output
    assert "the at-rest key opens a stored subject" in restored.output
    assert "the checkpoint key verifies the latest checkpoint" in restored.output
    assert {p.name: p.read_bytes() for p in settings.keys_dir.iterdir()} == before
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in settings.keys_dir.iterdir())
    assert all_open(settings, ids)
    verified = run("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_restore_of_another_gateways_backup_is_refused_before_anything_is_written(
        settings: Settings, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    populate(settings)
    other = make_settings(data_dir=tmp_path / "other", database_url=f"sqlite:///{tmp_path / 'other.db'}")
    initialize(other)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    foreign = tmp_path / "other.age"
    assert cli(other, monkeypatch)("keys", "backup", "--out", str(foreign), "--passphrase-file",
                                   str(passphrase)).exit_code == 0

    run = cli(settings, monkeypatch)
    shutil.rmtree(settings.keys_dir)
    refused = run("keys", "restore", str(foreign), "--passphrase-file", str(passphrase))
    assert refused.exit_code == 2
    message = " ".join(refused.output.split())
    assert "another gateway's backup" in message and "nothing was written" in message
    assert not settings.keys_dir.exists()
    assert [p.name for p in settings.data_dir.iterdir() if p.name.startswith(".keys-restore")] == []

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    assert "does not decrypt" in run("keys", "restore", str(foreign), "--passphrase-file", str(wrong)).output
