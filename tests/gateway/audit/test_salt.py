"""Every audit entry carries its own 128-bit salt (docs/PROTOCOL.md §7), whatever made it, and
`audit verify` holds the log to that: a malformed salt, or an entry without one after a salted
entry, is named; a log an older gateway began without salts still verifies, continued by this one.
Each verify case runs in this process and in two worker processes three entries at a time, so the
rule is checked within one range and across two."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from crypto import merkle
from crypto.canonical import canonical_json
from crypto.encoding import b64decode
from crypto.note import NoteVerifier, sign_checkpoint
from gateway.api.http.rate_limit import WindowSummary, summary_event
from gateway.audit.checkpoints import note_name
from gateway.audit.model import SALT_BYTES, Action, AuditEvent, Decision, entry_columns, entry_document
from gateway.audit.verify import verify_log
from gateway.audit.writer import AuditWriter
from gateway.config import Settings
from gateway.errors import LogVerificationError
from gateway.keys.keyring import load_gateway_keys
from gateway.store.engine import Database
from gateway.store.tables import AuditCheckpoint, AuditEntry, AuditNode
from tests.support.audit import document, event, rewrite

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
JOBS = 1  # set per test by the ``jobs`` fixture
LEGACY = 5  # entries an older gateway wrote without salts, before this one continued the log


@pytest.fixture(autouse=True, params=[1, 2], ids=["one-process", "two-workers"])
def jobs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys.modules[__name__], "JOBS", request.param)
    return int(request.param)


def verify(db: Database, verifier: NoteVerifier) -> int:
    with db.engine.connect() as connection:
        return verify_log(connection, verifier, chunk_size=3, jobs=JOBS).entries


def fails(db: Database, verifier: NoteVerifier) -> LogVerificationError:
    with pytest.raises(LogVerificationError) as caught:
        verify(db, verifier)
    return caught.value


def every_kind() -> list[AuditEvent]:
    """An event of each shape the gateway logs: served with facts, disclosed, refused before and
    after authentication, a revocation, a rate-limit summary."""
    now = datetime(2027, 1, 1, tzinfo=UTC)
    summary = summary_event(WindowSummary(start=now - timedelta(seconds=1), end=now, count=3, sources=1), now)
    return [
        event(Decision.SERVED, principal="bka-de", principal_verified=True, jti="j1",
              facts=[{"kind": "preservation_submitted", "preservation": "prs_1", "country": "DE", "subjects": 2,
                      "until": "2027-02-01T00:00:00Z"}]),
        event(Decision.DISCLOSED, principal="bka-de", principal_verified=True, order_id="ord_1", jti="j2",
              fields=["phoneNumber"], subjects=["sub_1"], disclosure_sha256="ab" * 32),
        event(Decision.REFUSED, code="UNAUTHENTICATED"),
        event(Decision.REFUSED, code="FORBIDDEN_ROLE", principal="bka-de", principal_verified=True, jti="j3"),
        event(Decision.SERVED, principal="reviewer-a", principal_verified=True, order_id="ord_1", jti="j4",
              action=Action.REVOKE_ORDER),
        summary,
    ]


def legacy_log(db: Database, settings: Settings) -> None:
    """Entries 0..LEGACY-1 as a gateway wrote them before entries carried a salt (the §7 entry of
    today without its ``salt``), with their tree nodes and a checkpoint of their size."""
    key = load_gateway_keys(settings).signing_key
    edge = merkle.RightEdge()
    rows, nodes = [], []
    for index in range(LEGACY):
        old = entry_document(event(Decision.REFUSED, code="UNAUTHENTICATED"), index, Decision.REFUSED,
                             "UNAUTHENTICATED", salt=bytes(SALT_BYTES))
        del old["salt"]
        text = canonical_json(old)
        digest = merkle.leaf_hash(text)
        rows.append({"idx": index, "entry": text.decode(), "leaf_hash": digest} | entry_columns(old))
        nodes.extend({"level": lv, "idx": ix, "hash": h} for lv, ix, h in edge.append(digest))
    note = sign_checkpoint(settings.origin, LEGACY, edge.root(), note_name(settings.origin), key)
    with db.engine.begin() as connection:
        connection.execute(insert(_entries), rows)
        connection.execute(insert(_nodes), nodes)
        connection.execute(insert(_checkpoints).values(tree_size=LEGACY, root_hash=edge.root(), note=note,
                                                       created_at=0))


def test_every_kind_of_entry_carries_a_salt_of_its_own(db: Database, make_writer: Callable[..., AuditWriter],
                                                       verifier: NoteVerifier) -> None:
    writer = make_writer()
    kinds = every_kind()
    for item in kinds:
        writer.append_sync(item)
    writer.close()
    salts = [document(db, index)["salt"] for index in range(len(kinds))]
    assert all(len(b64decode(salt, length=SALT_BYTES)) == SALT_BYTES for salt in salts)
    assert len(set(salts)) == len(salts)
    assert verify(db, verifier) == len(kinds)


def test_a_log_begun_without_salts_verifies_when_continued_with_them(
        db: Database, settings: Settings, make_writer: Callable[..., AuditWriter], verifier: NoteVerifier) -> None:
    legacy_log(db, settings)
    writer = make_writer(every_entries=4)
    for item in every_kind():
        writer.append_sync(item)
    writer.close()
    assert "salt" not in document(db, LEGACY - 1) and "salt" in document(db, LEGACY)
    assert verify(db, verifier) == LEGACY + len(every_kind())


@pytest.mark.parametrize("index", [LEGACY + 1, LEGACY + 2], ids=["next-range", "same-range"])
def test_an_entry_without_salt_after_a_salted_one_is_named(
        db: Database, settings: Settings, make_writer: Callable[..., AuditWriter], verifier: NoteVerifier,
        index: int) -> None:
    # With ranges of three (0-2, 3-5, 6-8), the first salted entry (5) ends a range: entry 6 follows
    # it in the next range, and entry 7 follows a salted one (6) in its own range.
    legacy_log(db, settings)
    writer = make_writer()
    for item in every_kind():
        writer.append_sync(item)
    writer.close()
    stripped = document(db, index)
    del stripped["salt"]
    rewrite(db, index, stripped, leaf=True)
    error = fails(db, verifier)
    assert (error.index, error.reason) == (index, "the entry carries no salt, though an earlier entry does")


@pytest.mark.parametrize("salt", ["", "AAAA", "A" * 24, "AAAAAAAAAAAAAAAAAAAAAA", 7, None],
                         ids=["empty", "short", "18-bytes", "unpadded-16-bytes", "number", "null"])
def test_a_malformed_salt_is_named(db: Database, make_writer: Callable[..., AuditWriter], verifier: NoteVerifier,
                                   salt: object) -> None:
    writer = make_writer()
    for item in every_kind():
        writer.append_sync(item)
    writer.close()
    rewrite(db, 2, document(db, 2) | {"salt": salt}, leaf=True)
    error = fails(db, verifier)
    assert (error.index, error.reason) == (2, "the entry's salt is not 16 bytes of standard base64")
