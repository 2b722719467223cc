"""The audit writer: dense indexes under concurrency (also with two writers on one database), group
commit, the order charge, durability settings and failure handling (issue 6)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from crypto.note import NoteVerifier
from gateway.audit.checkpoints import CheckpointPolicy, latest_checkpoint, log_size
from gateway.audit.model import AuditReceipt, Decision
from gateway.audit.verify import verify_log
from gateway.audit.writer import AuditWriter
from gateway.errors import AuditUnavailable
from gateway.principals.registry import Role
from gateway.store.engine import Database
from gateway.store.tables import AuditEntry, OrderRow
from tests.support.audit import event
from tests.support.harness import Harness, running_gateway
from tests.support.world import build_world

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_orders = OrderRow.__table__  # type: ignore[attr-defined]
WHOAMI = "{ whoami { id } }"


def stored_indexes(db: Database) -> list[int]:
    with db.engine.connect() as connection:
        return [int(i) for i in connection.execute(select(_entries.c.idx).order_by(_entries.c.idx)).scalars()]


def append_from_threads(writers: list[AuditWriter], *, threads: int, each: int,
                        make: Callable[[int], Any] = lambda _: event()) -> list[AuditReceipt]:
    """``threads`` threads append ``each`` events, round-robin over ``writers``, all released at once."""
    start = threading.Barrier(threads)

    def work(number: int) -> list[AuditReceipt]:
        writer = writers[number % len(writers)]
        start.wait()
        return [writer.append_sync(make(number)) for _ in range(each)]

    with ThreadPoolExecutor(threads) as pool:
        return [r for chunk in pool.map(work, range(threads)) for r in chunk]


def fail_commits(writer: AuditWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: every transaction the writer begins fails as a lost database would."""

    def broken() -> Any:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(writer.engine, "begin", broken)


def test_indexes_are_dense_and_unique_under_concurrent_appends(
        db: Database, make_writer: Callable[..., AuditWriter], verifier: NoteVerifier) -> None:
    writer = make_writer(every_entries=16)
    receipts = append_from_threads([writer], threads=8, each=30)
    assert sorted(r.index for r in receipts) == list(range(240))
    assert len({r.request_id for r in receipts}) == 240
    assert stored_indexes(db) == list(range(240))
    with db.engine.connect() as connection:
        report = verify_log(connection, verifier)
    assert report.entries == 240
    assert report.checkpoints >= 240 // 16 - 1  # batches may cross several multiples of 16 at once


def test_two_writers_on_one_database_keep_one_dense_log(
        db: Database, make_writer: Callable[..., AuditWriter], verifier: NoteVerifier) -> None:
    # Two writers with their own engines stand for two gateway processes: only the database's lock
    # (BEGIN IMMEDIATE, the PostgreSQL advisory lock) orders them.
    first, second = make_writer(every_entries=10), make_writer(every_entries=10)
    receipts = append_from_threads([first, second], threads=8, each=25)
    assert sorted(r.index for r in receipts) == list(range(200))
    assert first.entries > 0
    assert second.entries > 0
    with db.engine.connect() as connection:
        assert verify_log(connection, verifier).entries == 200


def test_group_commit_shares_one_transaction_among_concurrent_appends(
        make_writer: Callable[..., AuditWriter]) -> None:
    writer = make_writer()
    append_from_threads([writer], threads=16, each=20)
    assert writer.entries == 320
    assert writer.batches < writer.entries / 2, (writer.batches, writer.entries)


def test_what_queues_during_a_commit_goes_into_the_next_one(make_writer: Callable[..., AuditWriter],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    writer = make_writer()
    release = hold_commits(writer, monkeypatch)
    futures = [writer.submit(event()) for _ in range(100)]
    release.set()
    assert sorted(f.result(timeout=10).index for f in futures) == list(range(100))
    assert writer.batches <= 2  # the first event alone at most, then everything that queued behind it


def test_without_group_commit_every_entry_is_its_own_commit(make_writer: Callable[..., AuditWriter]) -> None:
    writer = make_writer(group_commit=False)
    append_from_threads([writer], threads=8, each=5)
    assert writer.batches == writer.entries == 40


def test_the_order_charge_never_exceeds_max_queries_under_concurrency(
        db: Database, make_writer: Callable[..., AuditWriter], make_order: Callable[..., str]) -> None:
    order_id = make_order(max_queries=7)
    writers = [make_writer(), make_writer()]

    def disclosure(_: int) -> Any:
        return event(Decision.DISCLOSED, principal="bka-de", principal_verified=True, order_id=order_id,
                     disclosure_sha256="ab" * 32, charge_order=order_id, max_queries=7)

    receipts = append_from_threads(writers, threads=8, each=6, make=disclosure)
    disclosed = [r for r in receipts if r.decision is Decision.DISCLOSED]
    exhausted = [r for r in receipts if r.decision is Decision.REFUSED]
    assert len(disclosed) == 7
    assert len(exhausted) == 48 - 7
    assert {r.code for r in exhausted} == {"ORDER_EXHAUSTED"}
    with db.engine.connect() as connection:
        assert connection.execute(select(_orders.c.queries_used).where(_orders.c.id == order_id)).scalar_one() == 7
        entries = [json.loads(t) for t in connection.execute(select(_entries.c.entry)).scalars()]
    refused = [e for e in entries if e["decision"] == "refused"]
    assert len(refused) == 41
    assert all(e["disclosure_sha256"] is None and e["code"] == "ORDER_EXHAUSTED" for e in refused)


def test_a_failing_commit_is_audit_unavailable(make_writer: Callable[..., AuditWriter],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    writer = make_writer()
    writer.append_sync(event())
    fail_commits(writer, monkeypatch)
    with pytest.raises(AuditUnavailable, match="could not be made durable"):
        writer.append_sync(event())
    monkeypatch.undo()
    assert writer.append_sync(event()).index == 1  # the failed entry took no index


def hold_commits(writer: AuditWriter, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the writer's next transaction wait until the returned event is set, so that whatever
    is submitted meanwhile queues up and lands in one batch."""
    release = threading.Event()
    original = writer._transaction

    def held(events: Any) -> Any:
        release.wait(10)
        return original(events)

    monkeypatch.setattr(writer, "_transaction", held)
    return release


def test_one_bad_event_does_not_sink_the_others_in_its_batch(make_writer: Callable[..., AuditWriter],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    writer = make_writer()
    taken = writer.append_sync(event())
    release = hold_commits(writer, monkeypatch)
    futures = [writer.submit(event()) for _ in range(10)]
    futures.insert(5, writer.submit(event(request_id=taken.request_id)))  # a duplicate request id
    futures += [writer.submit(event()) for _ in range(10)]
    release.set()
    outcomes = [f.exception() for f in futures]
    assert "writing them one by one" in caplog.text
    assert "IntegrityError" in caplog.text
    assert taken.request_id not in caplog.text  # no statement parameters (entries) in log lines
    assert isinstance(outcomes[5], AuditUnavailable)
    assert [o for i, o in enumerate(outcomes) if i != 5] == [None] * 20
    assert sorted(f.result().index for i, f in enumerate(futures) if i != 5) == list(range(1, 21))


def test_values_no_column_can_hold_are_kept_in_the_entry(db: Database, make_writer: Callable[..., AuditWriter]) -> None:
    writer = make_writer()
    long_order, nul_order = "o" * 200, "ord\x00x"
    receipts = [writer.append_sync(event(principal="bka-de", principal_verified=True, order_id=value,
                                         jti="j\ud800"))
                for value in (long_order, nul_order)]
    with db.engine.connect() as connection:
        rows = connection.execute(select(_entries.c.order_id, _entries.c.entry).order_by(_entries.c.idx)).all()
    assert [r.order_id for r in rows] == [None, None]
    assert [json.loads(r.entry)["order_id"] for r in rows] == [long_order, nul_order]
    assert json.loads(rows[0].entry)["jti"] == "j\\ud800"  # a lone surrogate, escaped, not a lost entry
    assert [r.index for r in receipts] == [0, 1]


def test_a_cancelled_append_is_still_written_and_the_writer_keeps_going(
        db: Database, make_writer: Callable[..., AuditWriter]) -> None:
    writer = make_writer()

    async def cancel_while_waiting() -> None:
        task = asyncio.ensure_future(writer.append(event()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_waiting())
    assert writer.append_sync(event()).index == 1
    assert stored_indexes(db) == [0, 1]


def test_close_commits_what_is_queued_checkpoints_it_and_then_refuses(
        db: Database, make_writer: Callable[..., AuditWriter], verifier: NoteVerifier) -> None:
    writer = make_writer()
    futures = [writer.submit(event()) for _ in range(50)]
    writer.close()
    assert sorted(f.result(timeout=0).index for f in futures) == list(range(50))
    with pytest.raises(AuditUnavailable, match="shutting down"):
        writer.append_sync(event())
    with db.engine.connect() as connection:
        note = latest_checkpoint(connection)
        assert note is not None
        assert verify_log(connection, verifier).checkpoints == 2  # the empty tree's (init) and 50
    assert note.splitlines()[1] == "50"


def test_checkpoints_every_n_entries_and_on_demand(db: Database, make_writer: Callable[..., AuditWriter],
                                                   verifier: NoteVerifier) -> None:
    writer = make_writer(every_entries=5, group_commit=False)
    for _ in range(12):
        writer.append_sync(event())
    with db.engine.connect() as connection:
        sizes = [int(s) for s in connection.execute(text("SELECT tree_size FROM audit_checkpoints "
                                                         "ORDER BY tree_size")).scalars()]
    assert sizes == [0, 5, 10]  # 0: the empty tree's, signed by `gateway init`
    note = writer.checkpoint_now()
    assert note is not None
    assert note.splitlines()[1] == "12"
    assert writer.checkpoint_now() == note  # nothing grew: no new checkpoint
    with db.engine.connect() as connection:
        assert verify_log(connection, verifier).checkpoints == 4


def test_checkpoints_every_t_seconds_when_the_log_grew(db: Database, make_writer: Callable[..., AuditWriter]) -> None:
    now = [0.0]
    writer = make_writer(every_entries=1000, every_seconds=60, monotonic=lambda: now[0])

    def checkpointed_sizes() -> list[int]:
        with db.engine.connect() as connection:
            query = text("SELECT tree_size FROM audit_checkpoints ORDER BY tree_size")
            return [int(r[0]) for r in connection.execute(query)]

    writer.append_sync(event())
    writer.append_sync(event())  # the writer is sequential: this one is taken after the first batch's timer check
    assert checkpointed_sizes() == [0]  # the empty tree's (init); 0 s of 60 have passed
    now[0] = 61.0
    writer.append_sync(event())
    writer.append_sync(event())  # taken only after the checkpoint that the third entry's batch was due
    assert checkpointed_sizes() == [0, 3]
    with db.engine.connect() as connection:
        note = latest_checkpoint(connection)
    assert note is not None
    assert note.splitlines()[1] == "3"


def test_commits_are_durable_on_the_writers_connections(db_kind: str, make_writer: Callable[..., AuditWriter],
                                                        database_url: str) -> None:
    if db_kind == "sqlite":
        writer = make_writer()
        with writer.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        return
    # A URL (or role, or database) that turns synchronous_commit off does not reach the writer.
    writer = AuditWriter(database_url.replace("options=", "options=-csynchronous_commit%3Doff%20"),
                         checkpoint_key=SigningKey.generate(), origin="o", policy=CheckpointPolicy())
    try:
        with writer.engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
            assert connection.exec_driver_sql("SHOW search_path").scalar_one().startswith("t_")
    finally:
        writer.close()


# -- through the HTTP edge ------------------------------------------------------------------------


def test_the_edge_answers_503_and_discloses_nothing_when_the_audit_write_fails(
        gateway: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(gateway)
    order = world.active_order()
    subject = world.subjects[0]["id"]
    query = "query($s: ID!) { subject(by: {id: $s}) { id phoneNumber { ciphertext } } }"
    assert world.gateway.post(world.authority, query, variables={"s": subject}, order=order["id"]).status_code == 200
    size = gateway.audit_size()
    fail_commits(gateway.services.audit, monkeypatch)
    response = gateway.post(world.authority, query, variables={"s": subject}, order=order["id"])
    assert response.status_code == 503
    body = response.json()
    assert body == {"errors": [{"message": body["errors"][0]["message"],
                                "extensions": {"code": "AUDIT_UNAVAILABLE"}}]}
    assert "ciphertext" not in response.text
    assert "data" not in body
    monkeypatch.undo()
    assert gateway.audit_size() == size
    with gateway.services.db.engine.connect() as connection:
        used = connection.execute(select(_orders.c.queries_used).where(_orders.c.id == order["id"])).scalar_one()
    assert used == 1  # the refused disclosure was not counted


def test_claims_no_column_can_hold_are_still_logged(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    for claimed in ("x" * 100, "a\x00b"):
        response = gateway.post(bka, WHOAMI, order=claimed)
        # Served, or refused at authentication: either way logged, never a 503 for the whole batch.
        assert response.status_code in (200, 401), response.text
        assert "audit" in response.json()["extensions"]
    assert gateway.audit_size() == 2


def test_a_request_that_trips_a_bug_is_still_audited(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    # A jti holding a lone surrogate cannot be stored by the replay store: a bug, masked, but logged.
    response = gateway.post(bka, WHOAMI, jti="\ud800")
    assert "audit" in response.json()["extensions"], response.text
    assert gateway.audit_size() == 1


def test_two_apps_on_one_database_share_one_log(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    with running_gateway(gateway.settings) as second:
        indexes = [h.post(bka, WHOAMI).json()["extensions"]["audit"]["index"]
                   for _ in range(5) for h in (gateway, second)]
    assert indexes == list(range(10))
    assert log_size_of(gateway) == 10


def log_size_of(harness: Harness) -> int:
    with harness.services.db.engine.connect() as connection:
        return log_size(connection)
