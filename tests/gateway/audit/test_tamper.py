"""`verify_log` finds every kind of tampering with a stored log and names the first entry or
checkpoint that does not hold (issue 6, "Done when"). The log: 50 entries, a checkpoint every 8
(and one at 50 when the writer closes). Every case runs twice: entries checked in this process, and
in two worker processes seven at a time (issue 12), which must name the same first failure."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import delete, insert, or_, select, update

from crypto.canonical import canonical_json
from crypto.merkle import MemoryTree, leaf_hash, root
from crypto.note import NoteVerifier, parse_checkpoint, sign_checkpoint
from gateway.audit.model import Action, Decision, entry_columns
from gateway.audit.verify import verify_log
from gateway.audit.writer import AuditWriter
from gateway.errors import LogVerificationError
from gateway.store.engine import Database
from gateway.store.tables import AuditCheckpoint, AuditEntry, AuditNode
from tests.support.audit import document, event, rewrite

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]

SIZE = 50
JOBS = 1  # set per test by the ``jobs`` fixture
CHECKPOINTS = [8, 16, 24, 32, 40, 48, 50]  # and the empty tree's, which `gateway init` signs


@pytest.fixture(autouse=True, params=[1, 2], ids=["one-process", "two-workers"])
def jobs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys.modules[__name__], "JOBS", request.param)
    return int(request.param)


@pytest.fixture
def log(db: Database, make_writer: Callable[..., AuditWriter]) -> Database:
    """A verified log of 50 varied entries with checkpoints at 8, 16, …, 48 and 50."""
    writer = make_writer(every_entries=8, group_commit=False)
    for number in range(SIZE):
        kind = [Decision.SERVED, Decision.REFUSED, Decision.DISCLOSED][number % 3]
        fields: dict[str, Any] = {"principal": f"authority-{number % 4}", "principal_verified": True}
        if kind is Decision.DISCLOSED:
            fields |= {"order_id": f"ord_{number % 5}", "fields": ["phoneNumber"], "subjects": [f"sub_{number}"],
                       "disclosure_sha256": "cd" * 32}
        if kind is Decision.REFUSED and number % 2:
            fields = {}
        writer.append_sync(event(kind, jti=f"jti-{number}", **fields))
    writer.close()
    return db


def verify(db: Database, verifier: NoteVerifier, **options: Any) -> Any:
    with db.engine.connect() as connection:
        return verify_log(connection, verifier, chunk_size=7, jobs=JOBS, **options)


def fails(db: Database, verifier: NoteVerifier, **options: Any) -> LogVerificationError:
    with pytest.raises(LogVerificationError) as caught:
        verify(db, verifier, **options)
    return caught.value


def all_leaves(db: Database) -> list[bytes]:
    with db.engine.connect() as connection:
        return [bytes(h) for h in connection.execute(select(_entries.c.leaf_hash).order_by(_entries.c.idx)).scalars()]


def test_the_untouched_log_verifies(log: Database, verifier: NoteVerifier) -> None:
    report = verify(log, verifier)
    assert report.entries == SIZE
    assert report.checkpoints == len(CHECKPOINTS) + 1
    assert report.root_hash == root(MemoryTree(all_leaves(log)), SIZE)
    assert report.nodes == 2 * SIZE - bin(SIZE).count("1")  # every completed perfect subtree, compared


def test_one_changed_field_is_caught_by_the_leaf_hash(log: Database, verifier: NoteVerifier) -> None:
    rewrite(log, 17, document(log, 17) | {"jti": "forged"})
    error = fails(log, verifier)
    assert error.index == 17
    assert "leaf hash" in error.reason


def test_a_changed_field_with_its_leaf_hash_is_caught_by_the_stored_tree(log: Database,
                                                                         verifier: NoteVerifier) -> None:
    rewrite(log, 17, document(log, 17) | {"decision": "served", "code": None}, leaf=True, columns=True)
    error = fails(log, verifier)
    assert error.index == 17
    assert "tree node" in error.reason


def test_a_changed_entry_with_its_whole_tree_rebuilt_is_caught_by_the_signed_checkpoint(
        log: Database, verifier: NoteVerifier) -> None:
    rewrite(log, 17, document(log, 17) | {"principal": "someone-else"}, leaf=True, columns=True)
    tree = MemoryTree(all_leaves(log))
    with log.engine.begin() as connection:  # every node recomputed: only the signatures still hold out
        for level, index in connection.execute(select(_nodes.c.level, _nodes.c.idx)).all():
            connection.execute(update(_nodes).where(_nodes.c.level == level, _nodes.c.idx == index)
                               .values(hash=tree.perfect_subtree_hash(level, index)))
        for size in CHECKPOINTS:
            connection.execute(update(_checkpoints).where(_checkpoints.c.tree_size == size)
                               .values(root_hash=root(tree, size)))
    error = fails(log, verifier)
    assert error.checkpoint == 24  # the first checkpoint over entry 17
    assert "root" in error.reason


def test_a_deleted_entry_is_named(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.begin() as connection:
        connection.execute(delete(_entries).where(_entries.c.idx == 20))
    error = fails(log, verifier)
    assert error.index == 20
    assert "missing" in error.reason


def test_two_swapped_entries_are_named(log: Database, verifier: NoteVerifier) -> None:
    ten, eleven = document(log, 10), document(log, 11)
    with log.engine.begin() as connection:
        rows = {i: connection.execute(select(_entries).where(_entries.c.idx == i)).one()._asdict() for i in (10, 11)}
        connection.execute(update(_entries).where(_entries.c.idx == 11).values(request_id="swapping"))
        for index, other in ((10, 11), (11, 10)):
            values = {k: v for k, v in rows[other].items() if k != "idx"}
            connection.execute(update(_entries).where(_entries.c.idx == index).values(**values))
    assert document(log, 10) == eleven
    assert document(log, 11) == ten
    error = fails(log, verifier)
    assert error.index == 10
    assert "says it is entry 11" in error.reason


def test_swapped_entries_renumbered_to_fit_are_caught_by_the_tree(log: Database, verifier: NoteVerifier) -> None:
    ten, eleven = document(log, 10), document(log, 11)
    with log.engine.begin() as connection:
        connection.execute(update(_entries).where(_entries.c.idx == 11).values(request_id="swapping"))
    rewrite(log, 10, eleven | {"index": 10}, leaf=True, columns=True)
    rewrite(log, 11, ten | {"index": 11}, leaf=True, columns=True)
    error = fails(log, verifier)
    assert error.index == 10
    assert "tree node" in error.reason


def test_an_inserted_entry_is_named(log: Database, verifier: NoteVerifier) -> None:
    documents = [document(log, i) for i in range(30, SIZE)]
    forged = documents[0] | {"request_id": "req_forged", "jti": "forged"}
    with log.engine.begin() as connection:
        connection.execute(delete(_entries).where(_entries.c.idx >= 30))
        for index, new in enumerate([forged, *documents], start=30):  # everything after moves up by one
            new = new | {"index": index}
            text = canonical_json(new)
            connection.execute(insert(_entries).values(idx=index, entry=text.decode(), leaf_hash=leaf_hash(text),
                                                       **entry_columns(new)))
    error = fails(log, verifier)
    assert error.index == 30
    assert "tree node" in error.reason


def test_an_entry_appended_behind_the_writers_back_is_named(log: Database, verifier: NoteVerifier) -> None:
    new = document(log, SIZE - 1) | {"index": SIZE, "request_id": "req_forged"}
    text = canonical_json(new)
    with log.engine.begin() as connection:
        connection.execute(insert(_entries).values(idx=SIZE, entry=text.decode(), leaf_hash=leaf_hash(text),
                                                   **entry_columns(new)))
    error = fails(log, verifier)
    assert error.index == SIZE
    assert "missing" in error.reason


def test_a_truncated_tail_leaves_a_checkpoint_past_the_end(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.begin() as connection:
        connection.execute(delete(_entries).where(_entries.c.idx >= 45))
    error = fails(log, verifier)
    assert error.checkpoint == 48
    assert "past the end" in error.reason
    assert "45..47" in error.reason


def test_a_truncated_tail_without_its_checkpoints_leaves_stray_tree_nodes(log: Database,
                                                                          verifier: NoteVerifier) -> None:
    with log.engine.begin() as connection:
        connection.execute(delete(_entries).where(_entries.c.idx >= 45))
        connection.execute(delete(_checkpoints).where(_checkpoints.c.tree_size > 45))
    error = fails(log, verifier)
    assert error.index == 45
    assert "past the end" in error.reason


def test_a_clean_truncation_is_caught_by_a_checkpoint_kept_outside(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.connect() as connection:
        kept = connection.execute(select(_checkpoints.c.note).where(_checkpoints.c.tree_size == 50)).scalar_one()
    leaves = all_leaves(log)[:45]
    tree = MemoryTree(leaves)
    with log.engine.begin() as connection:  # entries, nodes and checkpoints: nothing left inside to catch it
        connection.execute(delete(_entries).where(_entries.c.idx >= 45))
        connection.execute(delete(_checkpoints).where(_checkpoints.c.tree_size > 45))
        connection.execute(delete(_nodes).where(or_(_nodes.c.level > 0, _nodes.c.idx >= 45)))
        for level in range(1, 6):  # the interior nodes of the 45 left, rebuilt as a forger would
            for index in range(45 >> level):
                connection.execute(insert(_nodes).values(level=level, idx=index,
                                                         hash=tree.perfect_subtree_hash(level, index)))
    assert verify(log, verifier).entries == 45
    error = fails(log, verifier, trusted=[kept])
    assert error.checkpoint == 50
    assert "past the end" in error.reason


def test_an_altered_checkpoint_signature_is_named(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.begin() as connection:
        note = connection.execute(select(_checkpoints.c.note).where(_checkpoints.c.tree_size == 16)).scalar_one()
        head, signature = note.rsplit(" ", 1)
        flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        connection.execute(update(_checkpoints).where(_checkpoints.c.tree_size == 16)
                           .values(note=f"{head} {flipped}"))
    error = fails(log, verifier)
    assert error.checkpoint == 16
    assert "does not verify" in error.reason


def test_a_checkpoint_re_signed_by_another_key_is_named(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.begin() as connection:
        note = connection.execute(select(_checkpoints.c.note).where(_checkpoints.c.tree_size == 16)).scalar_one()
        parsed = parse_checkpoint(note[: note.index("\n\n") + 1])
        forged_root = bytes(32)
        forged = sign_checkpoint(parsed.origin, 16, forged_root, verifier.name, SigningKey.generate())
        connection.execute(update(_checkpoints).where(_checkpoints.c.tree_size == 16)
                           .values(note=forged, root_hash=forged_root))
    assert forged.startswith(note[: note.index("\n")])  # same origin and key name: only the key differs
    error = fails(log, verifier)
    assert error.checkpoint == 16
    assert "does not verify" in error.reason


def test_a_checkpoint_signed_by_the_gateway_for_another_root_is_named(log: Database, verifier: NoteVerifier,
                                                                      settings: Any) -> None:
    from gateway.keys.keyring import load_gateway_keys

    key = load_gateway_keys(settings).signing_key
    with log.engine.begin() as connection:
        connection.execute(update(_checkpoints).where(_checkpoints.c.tree_size == 32).values(
            note=sign_checkpoint(settings.origin, 32, bytes(32), verifier.name, key), root_hash=bytes(32)))
    error = fails(log, verifier)
    assert error.checkpoint == 32
    assert "not the root of the first 32 entries" in error.reason


def test_a_stored_root_that_differs_from_its_note_is_named(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.begin() as connection:
        connection.execute(update(_checkpoints).where(_checkpoints.c.tree_size == 40).values(root_hash=bytes(32)))
    error = fails(log, verifier)
    assert error.checkpoint == 40


# Verified seven entries at a time: (1, 8) lies within entries 14..20, (2, 5) and (3, 1) span two
# such ranges, so both the per-range check and the one over the whole tree are held to it.
@pytest.mark.parametrize(("level", "index", "entries"), [(2, 5, "20..23"), (1, 8, "16..17"), (3, 1, "8..15")])
def test_a_changed_interior_node_is_named(log: Database, verifier: NoteVerifier, level: int, index: int,
                                          entries: str) -> None:
    with log.engine.begin() as connection:
        connection.execute(update(_nodes).where(_nodes.c.level == level, _nodes.c.idx == index)
                           .values(hash=bytes(32)))
    error = fails(log, verifier)
    assert error.node == (level, index)
    assert f"entries {entries}" in error.reason


def test_a_changed_indexed_copy_is_named(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.begin() as connection:
        connection.execute(update(_entries).where(_entries.c.idx == 33).values(principal="authority-9"))
    error = fails(log, verifier)
    assert error.index == 33
    assert "principal column" in error.reason


def test_an_entry_that_is_not_canonical_is_named(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.begin() as connection:
        connection.execute(update(_entries).where(_entries.c.idx == 3)
                           .values(entry=json.dumps(document(log, 3), indent=1)))
    error = fails(log, verifier)
    assert error.index == 3
    assert "canonical" in error.reason


def test_a_checkpoint_from_another_gateway_is_refused_as_input(log: Database, verifier: NoteVerifier) -> None:
    from crypto.errors import NoteError

    stranger = SigningKey.generate()
    note = sign_checkpoint("elsewhere/audit", 3, bytes(32), "elsewhere/audit", stranger)
    with pytest.raises(NoteError):
        verify(log, verifier, trusted=[note])


def test_clearing_the_action_column_of_a_revocation_is_caught(db: Database, make_writer: Callable[..., AuditWriter],
                                                             verifier: NoteVerifier) -> None:
    # Issue 11: Orders.load reads the indexed copy; verify holds it to the entry.
    writer = make_writer(group_commit=False)
    writer.append_sync(event(principal="reviewer-a", principal_verified=True, order_id="ord_1",
                             action=Action.REVOKE_ORDER))
    writer.close()
    assert verify(db, verifier).entries == 1
    with db.engine.begin() as connection:
        assert connection.execute(select(_entries.c.action)).scalar_one() == "revoke_order"
        connection.execute(update(_entries).values(action=None))
    assert "action column" in fails(db, verifier).reason
