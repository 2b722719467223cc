"""Entries checked in worker processes (issue 12): the checks really leave this process when asked
to, and stay in it when the database cannot be opened from another."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import create_engine

from crypto.note import NoteVerifier
from gateway.audit import entry_pool
from gateway.audit.entry_checks import EntryBatch
from gateway.audit.verify import verify_log
from gateway.audit.writer import AuditWriter
from gateway.store.engine import Database
from tests.support.audit import event


@pytest.fixture
def log(db: Database, make_writer: Callable[..., AuditWriter]) -> Database:
    writer = make_writer(every_entries=5, group_commit=False)
    for number in range(23):
        writer.append_sync(event(jti=f"jti-{number}"))
    writer.close()
    return db


def _not_here(*_: object) -> EntryBatch:
    raise AssertionError("checked in this process")


def test_with_jobs_the_entries_are_checked_in_other_processes(log: Database, verifier: NoteVerifier,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # The workers are spawned, so they import check_range afresh; only this process's copy is broken.
    monkeypatch.setattr(entry_pool, "check_range", _not_here)
    with log.engine.connect() as connection:
        report = verify_log(connection, verifier, chunk_size=4, jobs=2)
        assert (report.entries, report.nodes) == (23, 2 * 23 - bin(23).count("1"))
        with pytest.raises(AssertionError, match="checked in this process"):
            verify_log(connection, verifier, chunk_size=4, jobs=1)


def test_one_range_is_checked_here_whatever_the_jobs(log: Database, verifier: NoteVerifier,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry_pool, "check_range", _not_here)
    with log.engine.connect() as connection, pytest.raises(AssertionError, match="checked in this process"):
        verify_log(connection, verifier, chunk_size=100, jobs=2)  # spawning would cost more than the checks


def test_an_in_memory_database_is_checked_here(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []

    def record(_: object, first: int, end: int) -> EntryBatch:
        calls.append((first, end))
        return EntryBatch(first)

    monkeypatch.setattr(entry_pool, "check_range", record)
    engine = create_engine("sqlite://")  # another process would open an empty database of its own
    with engine.connect() as connection:
        assert [batch.first for batch in entry_pool.entry_batches(connection, 10, chunk=3, jobs=4)] == [0, 3, 6, 9]
    assert calls == [(0, 3), (3, 6), (6, 9), (9, 10)]


def test_jobs_must_be_positive(log: Database, verifier: NoteVerifier) -> None:
    with log.engine.connect() as connection, pytest.raises(ValueError, match="positive"):
        verify_log(connection, verifier, jobs=0)
