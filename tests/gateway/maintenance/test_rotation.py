"""`gateway keys rotate signing|at-rest|blind-index` (docs/PROTOCOL.md §13)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import select
from typer.testing import Result

from crypto.errors import NoteError, RetiredKeyError
from crypto.key_schedule import verify_by_size
from crypto.note import sign_checkpoint
from gateway.app import discovery_document
from gateway.audit.checkpoints import CheckpointPolicy, note_name
from gateway.audit.model import Decision
from gateway.audit.signers import schedule_for
from gateway.audit.usage import usage_key, usage_mac
from gateway.audit.writer import AuditWriter
from gateway.cli.main import app
from gateway.config import Settings
from gateway.errors import StoreIntegrityError
from gateway.keys.keyring import load_gateway_keys
from gateway.keys.vault import Vault
from gateway.maintenance.rotation import rotate_at_rest, rotate_blind_index
from gateway.orders.service import Orders
from gateway.services import Services
from gateway.store.engine import Database
from gateway.store.tables import LegalRequestRow, OrderRow
from gateway.subjects.store import SubjectStore
from tests.support.audit import event
from tests.support.harness import running_gateway
from tests.support.operator import operator_cli
from tests.support.world import World, build_world


@pytest.fixture
def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    return operator_cli(app, settings, monkeypatch, workdir=tmp_path)


def append(settings: Settings, count: int) -> None:
    writer = AuditWriter(settings.sqlalchemy_url, checkpoint_key=load_gateway_keys(settings).signing_key,
                         origin=settings.origin, policy=CheckpointPolicy(4, 3600))
    try:
        for _ in range(count):
            writer.append_sync(event(Decision.REFUSED))
    finally:
        writer.close()


def discovery(settings: Settings, path: Path) -> dict[str, object]:
    services = Services.build(settings)
    try:
        document = discovery_document(services)
    finally:
        services.close()
    path.write_text(json.dumps(document))
    return document


def test_signing_rotation_mid_log_verifies_and_proofs_across_it_check_offline(
        settings: Settings, run: Callable[..., Result], tmp_path: Path) -> None:
    append(settings, 6)  # checkpoints at 4 by the first key
    old_key = load_gateway_keys(settings).signing_key
    assert run("audit", "proof", "1", "--tree-size", "4", "--out", str(tmp_path / "before.json")).exit_code == 0
    rotated = run("keys", "rotate", "signing")
    assert rotated.exit_code == 0, rotated.output
    assert "at tree size 6" in rotated.output
    new_key = load_gateway_keys(settings).signing_key
    assert bytes(new_key) != bytes(old_key)
    append(settings, 7)  # checkpoints at 8 and 12 by the new key
    assert run("audit", "checkpoint").exit_code == 0  # and 13
    assert run("audit", "proof", "1", "--out", str(tmp_path / "after.json")).exit_code == 0

    verified = run("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "13 entries" in verified.output and "6 stored checkpoints" in verified.output  # 0 (init), 4, 6, 8, 12, 13

    document = discovery(settings, tmp_path / "discovery.json")
    listed = document["checkpoint_verifier_keys"]
    assert [(k["from_size"], k["until_size"]) for k in listed] == [(0, 6), (6, None)]  # type: ignore[index]
    assert document["checkpoint_verifier_key"] == listed[-1]["verifier_key"]  # type: ignore[index]
    for proof in ("before.json", "after.json"):
        checked = run("audit", "check-proof", str(tmp_path / proof), "--discovery", str(tmp_path / "discovery.json"))
        assert checked.exit_code == 0, checked.output
    # With only the new key, the proof signed before the rotation does not hold.
    only_new = run("audit", "check-proof", str(tmp_path / "before.json"), "--verifier-key",
                   str(document["checkpoint_verifier_key"]))
    assert only_new.exit_code == 1

    # A retired key cannot speak for the log after it was retired, even if it leaked.
    schedule = schedule_for(load_gateway_keys(settings), settings.origin)
    forged = sign_checkpoint(settings.origin, 13, bytes(32), note_name(settings.origin), old_key)
    with pytest.raises(RetiredKeyError, match=r"signed by the retired key .*, whose end is tree size 6 .* for tree "
                                              r"size 13: a retired key cannot sign past its end"):
        verify_by_size(forged, [s for s in schedule if s.until_size is not None], origin=settings.origin)
    with pytest.raises(RetiredKeyError):
        verify_by_size(forged, schedule, origin=settings.origin)
    # Signed by no key of the gateway at all: no key is named.
    stranger = sign_checkpoint(settings.origin, 13, bytes(32), note_name(settings.origin), SigningKey.generate())
    with pytest.raises(NoteError, match="no checkpoint key of this gateway signs tree size 13"):
        verify_by_size(stranger, [s for s in schedule if s.until_size is not None], origin=settings.origin)


def every_subject_opens(db: Database, vault: Vault, world: World) -> bool:
    store = SubjectStore(db, vault)
    return all(store.get(s["id"]) is not None and store.find_by_phone(s["phone"]) == s["id"] for s in world.subjects)


def test_at_rest_rotation_interrupted_halfway_then_resumed_leaves_every_subject_open(
        settings: Settings, db: Database) -> None:
    with running_gateway(settings) as harness:
        world = build_world(harness, subjects=8)
        request_id = world.submit()
        order = world.active_order()
        used = harness.post(world.authority, "{ order { subjects { phoneNumber { ciphertext } } } }",
                            order=order["id"])
        assert used.status_code == 200, used.text
    old = load_gateway_keys(settings)

    class Interrupted(Exception):
        pass

    def interrupt(what: str, done: int, total: int) -> None:
        if what == "subjects" and done >= total // 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        rotate_at_rest(settings, progress=interrupt, batch_size=2)
    halfway = load_gateway_keys(settings)
    assert halfway.at_rest_key == old.at_rest_key and halfway.at_rest_next is not None  # the old key is kept
    assert every_subject_opens(db, Vault.from_keys(halfway), world)
    # Half really is re-sealed: the new key alone opens some subjects' heads, not all (their event
    # rows come after the heads).
    new_only = SubjectStore(db, Vault(halfway.at_rest_next, halfway.blind_index_key))
    opened = []
    for subject in world.subjects:
        try:
            with db.engine.connect() as connection:
                opened.append(new_only.head(connection, subject["id"]) is not None)
        except StoreIntegrityError:
            opened.append(False)
    assert 0 < sum(opened) < len(opened)

    rotate_at_rest(settings, batch_size=2)
    done = load_gateway_keys(settings)
    assert done.at_rest_next is None and done.at_rest_key == halfway.at_rest_next
    assert not (settings.keys_dir / "at-rest.key.next").exists()
    assert every_subject_opens(db, Vault.from_keys(done), world)
    with pytest.raises(StoreIntegrityError):
        SubjectStore(db, Vault.from_keys(old)).get(world.subjects[0]["id"])
    # The request's selectors were re-sealed too.
    vault = Vault.from_keys(done)
    orders = Orders(db, SubjectStore(db, vault), vault, approvals_required=2)
    assert orders.get_request(request_id).id == request_id
    with db.engine.connect() as connection:
        sealed = connection.execute(select(LegalRequestRow.selectors_sealed)
                                    .where(LegalRequestRow.id == request_id)).scalar_one()
    assert vault.opens_with_current_key(bytes(sealed), context=b"request:" + request_id.encode())
    # The order's usage MAC, keyed from the at-rest key, was carried over to the new key.
    with db.engine.connect() as connection:
        row = connection.execute(select(OrderRow.queries_used, OrderRow.usage_index, OrderRow.usage_mac)
                                 .where(OrderRow.id == order["id"])).one()
    assert row.usage_mac is not None
    assert bytes(row.usage_mac) == usage_mac(usage_key(done.at_rest_key), order["id"], row.queries_used,
                                             row.usage_index)


def test_blind_index_rotation_reindexes_and_the_gateway_waits_for_it(settings: Settings, db: Database) -> None:
    with running_gateway(settings) as harness:
        world = build_world(harness, subjects=5)
    old = load_gateway_keys(settings)

    def interrupt(what: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_blind_index(settings, progress=interrupt, batch_size=2)
    with pytest.raises(Exception, match="blind-index key rotation is under way"):
        Services.build(settings)
    rotate_blind_index(settings, batch_size=2)
    new = load_gateway_keys(settings)
    assert new.blind_index_key != old.blind_index_key and new.blind_index_next is None
    assert every_subject_opens(db, Vault.from_keys(new), world)
    assert SubjectStore(db, Vault.from_keys(old)).find_by_phone(world.subjects[0]["phone"]) is None
