"""``upsert`` with its lines parsed and sealed in worker processes (gateway/subjects/pipeline.py):
the same refusals, by number and in order, and the same store as when this process does it all; and
``append-events``, which looks up its subjects before taking the write lock, still refuses the lines
of a subject deleted in between."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from gateway.config import Settings
from gateway.errors import SubjectLineError, WorkerFailed
from gateway.keys.keyring import load_gateway_keys
from gateway.keys.vault import Vault
from gateway.store.engine import Database
from gateway.subjects.ingest import UNKNOWN_SUBJECT, Ingestion
from gateway.subjects.parsing import MAX_LINE_CHARS
from gateway.subjects.pipeline import Workers
from gateway.subjects.store import SubjectStore
from gateway.subjects.synthetic import generate_subjects
from tests.support.ingestion import EVERYTHING, Rejects, answers, expected, jsonl


@pytest.fixture
def store(settings: Settings, db: Database) -> SubjectStore:
    return SubjectStore(db, Vault.from_keys(load_gateway_keys(settings)))


def test_workers_refuse_the_same_lines_in_order_and_store_the_rest(store: SubjectStore) -> None:
    subjects = list(generate_subjects(40, seed=11, ip_events=2))
    lines = jsonl(subjects)
    lines[3] = json.dumps(dict(subjects[3], phone="+1 not a number")) + "\n"
    lines[9] = "\n"
    lines[17] = SubjectLineError(18, f"line is longer than {MAX_LINE_CHARS} bytes")
    lines[25] = json.dumps(dict(subjects[25], id="sub_\udcff"), ensure_ascii=False) + "\n"  # as read from bad bytes
    lines[31] = json.dumps(dict(subjects[31], phone=subjects[0]["phone"])) + "\n"  # line 1's phone
    rejects = Rejects()
    report = Ingestion(store, batch_size=7, workers=2).upsert_lines(lines, reject=rejects)
    assert rejects == [(4, "field 'phone' is not a valid phone number (E.164 with its + country code)"),
                       (10, "line is empty"),
                       (18, f"line is longer than {MAX_LINE_CHARS} bytes"),
                       (26, "line is not valid UTF-8"),
                       (32, "field 'phone' is already used by another subject")]
    assert (report.applied, report.rejected) == (35, 5)
    refused = {3, 9, 17, 25, 31}
    assert store.count() == 35
    for index, subject in enumerate(subjects):
        assert store.exists(subject["id"]) == (index not in refused)
        if index not in refused:
            assert answers(store, subject["id"]) == expected(subject)


def test_workers_update_stored_subjects_from_their_lines(store: SubjectStore) -> None:
    subjects = list(generate_subjects(12, seed=12, ip_events=2))
    ingestion = Ingestion(store, batch_size=5, workers=2)
    ingestion.upsert_lines(jsonl(subjects), reject=Rejects())
    changed = [dict(s, phone=f"+4915112345{n:03d}", username=f"renamed_{n}",
                    ip_events=[*s["ip_events"], {"ip": "192.0.2.99", "first_seen": "2026-12-01T00:00:00Z",
                                                 "last_seen": "2026-12-01T00:00:00Z"}])
               for n, s in enumerate(subjects)]
    rejects = Rejects()
    report = ingestion.upsert_lines(jsonl(changed), reject=rejects)
    assert (report.applied, rejects) == (12, [])
    for subject in changed:
        assert answers(store, subject["id"]) == expected(subject)
        assert store.find_by_username(subject["username"]) == subject["id"]


def test_workers_answer_in_order_and_a_failure_names_only_its_type() -> None:
    with Workers(2, _square) as workers:
        assert [answer for _item, answer in workers.map(range(20), lambda n: n)] == [n * n for n in range(20)]
        with pytest.raises(WorkerFailed, match=r"^an ingestion worker failed: KeyError$"):
            list(workers.map([1, -1, 2], lambda n: n))


def _square(n: int) -> int:
    if n < 0:
        raise KeyError("+4915112345678")  # a message that must not cross
    return n * n


class DeletingStore(SubjectStore):
    """Deletes ``victim`` (in a transaction of its own, as another writer would) right after the first
    look-up of stored subjects that is made outside a transaction."""

    victim = ""

    def stored_ids(self, conn: Any, ids: Iterable[str]) -> dict[str, int]:
        outside = not conn.in_transaction()
        found = super().stored_ids(conn, ids)
        if self.victim and outside:
            victim, self.victim = self.victim, ""
            with self.db.writes() as other:
                self.delete_subject(other, victim)
        return found


def test_append_refuses_the_lines_of_a_subject_deleted_after_the_look_up(settings: Settings, db: Database) -> None:
    store = DeletingStore(db, Vault.from_keys(load_gateway_keys(settings)))
    kept, gone = generate_subjects(2, seed=13, ip_events=0)
    Ingestion(store).upsert_lines(jsonl([kept, gone]), reject=Rejects())
    store.victim = gone["id"]
    lines = [json.dumps({"subject": s["id"], "kind": "ip", "ip": f"192.0.2.{n}", "seen": "2026-12-01T10:00:00Z"})
             for n, s in enumerate([kept, gone, kept, gone])]
    rejects = Rejects()
    report = Ingestion(store).append_lines(lines, reject=rejects)
    assert rejects == [(2, UNKNOWN_SUBJECT), (4, UNKNOWN_SUBJECT)]
    assert report.applied == 2
    assert [e["ip"] for e in store.read_field(kept["id"], "ipAddresses", EVERYTHING)] == ["192.0.2.0", "192.0.2.2"]
    assert not store.exists(gone["id"])


def test_a_negative_worker_count_is_refused(store: SubjectStore) -> None:
    make: Callable[[], Ingestion] = lambda: Ingestion(store, workers=-1)  # noqa: E731
    with pytest.raises(ValueError, match="workers"):
        make()
