"""Live ingestion (docs/PROTOCOL.md §9.3) on SQLite and (when configured) PostgreSQL: every bad line
is refused by number, nothing of it is applied, the other lines are, and the store then holds
exactly the good lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.config import Settings
from gateway.errors import StoreIntegrityError, SubjectLineError
from gateway.keys.keyring import load_gateway_keys
from gateway.keys.vault import Vault
from gateway.store.engine import Database
from gateway.store.tables import metadata
from gateway.subjects.ingest import Ingestion
from gateway.subjects.parsing import MAX_LINE_CHARS, parse_subject
from gateway.subjects.store import SubjectStore
from gateway.subjects.synthetic import generate_subjects
from tests.support.ingestion import EVERYTHING, Rejects, answers, expected, jsonl

EVENTS = metadata.tables["subject_events"]


@pytest.fixture
def store(settings: Settings, db: Database) -> SubjectStore:
    return SubjectStore(db, Vault.from_keys(load_gateway_keys(settings)))


def event_count(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(EVENTS)).scalar_one())


def ip(subject: str, address: str, seen: str, **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "kind": "ip", "ip": address, "seen": seen, **extra}


def test_upsert_applies_every_good_line_around_a_bad_one_in_the_middle(store: SubjectStore, db: Database) -> None:
    subjects = list(generate_subjects(30, seed=3, ip_events=2))
    lines = jsonl(subjects)
    broken = dict(subjects[14], phone="+1 not a number")
    lines[14] = json.dumps(broken) + "\n"
    rejects = Rejects()
    report = Ingestion(store, batch_size=8).upsert_lines(lines, reject=rejects)
    assert (report.applied, report.rejected) == (29, 1)
    assert rejects == [(15, "field 'phone' is not a valid phone number (E.164 with its + country code)")]
    assert store.count() == 29 and not store.exists(subjects[14]["id"])
    for subject in subjects[:14] + subjects[15:]:
        assert answers(store, subject["id"]) == expected(subject)
    assert event_count(db) == sum(len(s["ip_events"]) + len(s["devices"]) + len(s["username_history"])
                                  for s in subjects if s is not subjects[14])


def test_upsert_is_idempotent_and_replaces_the_current_values(store: SubjectStore, db: Database) -> None:
    subjects = list(generate_subjects(6, seed=4, ip_events=3))
    ingestion = Ingestion(store, batch_size=4)
    ingestion.upsert_lines(jsonl(subjects), reject=Rejects())
    events = event_count(db)
    again = ingestion.upsert_lines(jsonl(subjects), reject=Rejects())
    assert (again.applied, again.rejected) == (6, 0) and event_count(db) == events
    changed = dict(subjects[0], phone="+4915112345678",
                   ip_events=[*subjects[0]["ip_events"],
                              {"ip": "2001:db8::7", "first_seen": "2026-12-01T00:00:00Z",
                               "last_seen": "2026-12-01T01:00:00Z"}])
    ingestion.upsert_lines(jsonl([changed]), reject=Rejects())
    assert event_count(db) == events + 1
    assert answers(store, changed["id"]) == expected(changed)
    assert store.find_by_phone("+4915112345678") == changed["id"]
    assert store.find_by_phone(subjects[0]["phone"]) is None


def test_upsert_refuses_a_phone_or_username_another_subject_has(store: SubjectStore) -> None:
    first, second = generate_subjects(2, seed=5, ip_events=1)
    ingestion = Ingestion(store)
    ingestion.upsert_lines(jsonl([first, second]), reject=Rejects())
    rejects = Rejects()
    taken = [dict(second, phone=first["phone"]), dict(second, username=first["username"].upper())]
    report = ingestion.upsert_lines(jsonl(taken), reject=rejects)
    assert report.applied == 0
    assert rejects == [(1, "field 'phone' is already used by another subject"),
                       (2, "field 'username' is already used by another subject")]
    assert answers(store, second["id"]) == expected(second)


def test_append_events_refuses_unknown_subjects_and_bad_lines_and_applies_the_rest(
        store: SubjectStore, db: Database) -> None:
    (subject,) = generate_subjects(1, seed=6, ip_events=1)
    Ingestion(store).upsert_lines(jsonl([subject]), reject=Rejects())
    before = event_count(db)
    sid = subject["id"]
    lines = jsonl([ip(sid, "203.0.113.9", "2026-12-01T10:00:00Z", port=443),
                   ip("sub_nobody", "203.0.113.9", "2026-12-01T10:00:00Z"),
                   ip(sid, "203.0.113.300", "2026-12-01T10:00:00Z"),
                   ip(sid, "2001:DB8::1", "2026-12-02T10:00:00+01:00")])
    lines.insert(3, "\n")
    lines.append(SubjectLineError(6, f"line is longer than {MAX_LINE_CHARS} bytes"))  # type: ignore[arg-type]
    lines.append('{"subject":"' + sid + '","kind":"ip","ip":"\udcff","seen":"2026-12-01T10:00:00Z"}\n')
    rejects = Rejects()
    report = Ingestion(store, batch_size=3).append_lines(lines, reject=rejects)
    assert rejects == [(2, "field 'subject': no subject has this id"),
                       (3, "field 'ip' is not a valid IP address"),
                       (4, "line is empty"),
                       (6, f"line is longer than {MAX_LINE_CHARS} bytes"),
                       (7, "line is not valid UTF-8")]
    assert (report.applied, report.rejected) == (2, 5)
    assert event_count(db) == before + 2
    window = (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC))
    assert store.read_field(sid, "ipAddresses", window) == [
        {"ip": "203.0.113.9", "port": 443, "first_seen": "2026-12-01T10:00:00Z", "last_seen": "2026-12-01T10:00:00Z"},
        {"ip": "2001:db8::1", "first_seen": "2026-12-02T09:00:00Z", "last_seen": "2026-12-02T09:00:00Z"}]
    assert not store.exists("sub_nobody")


def test_a_device_sighting_widens_its_device_and_a_username_line_changes_the_current_one(
        store: SubjectStore) -> None:
    first, second = generate_subjects(2, seed=7, ip_events=1)
    Ingestion(store).upsert_lines(jsonl([first, second]), reject=Rejects())
    sid = first["id"]
    device = {"subject": sid, "kind": "device", "model": "Pixel 9", "platform": "Android 15", "app": "Messenger",
              "app_version": "7.1"}
    rejects = Rejects()
    report = Ingestion(store).append_lines(jsonl([
        {**device, "seen": "2026-12-02T10:00:00Z"}, {**device, "seen": "2026-12-01T08:00:00Z"},
        {"subject": sid, "kind": "username", "username": "Renamed_1", "seen": "2026-12-03T00:00:00Z"},
        {"subject": sid, "kind": "username", "username": second["username"], "seen": "2026-12-04T00:00:00Z"},
    ]), reject=rejects)
    assert rejects == [(4, "field 'username' is already used by another subject")] and report.applied == 3
    record = store.get(sid)
    assert record is not None
    pixel = [d for d in record.devices if d.model == "Pixel 9"]
    assert [(d.first_seen, d.last_seen) for d in pixel] == [
        (datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2026, 12, 2, 10, tzinfo=UTC))]
    assert record.username == "Renamed_1" and store.find_by_username("renamed_1") == sid
    assert store.find_by_username(first["username"]) is None
    assert [(u.username, u.until) for u in record.username_history if u.until is None] == [("Renamed_1", None)]
    closed = [u for u in record.username_history if u.username == first["username"]]
    assert closed and closed[-1].until == datetime(2026, 12, 3, tzinfo=UTC)


def test_put_writes_one_full_record_and_refuses_a_taken_phone(store: SubjectStore) -> None:
    first, second = (parse_subject(s) for s in generate_subjects(2, seed=8, ip_events=4))
    assert store.put(first) is None and store.put(first) is None
    assert store.get(first.id) == first
    clash = parse_subject(dict(next(generate_subjects(2, seed=8, ip_events=4)), id="sub_other", phone=first.phone))
    assert store.put(clash) == "field 'phone' is already used by another subject"
    assert store.put(second) is None and store.count() == 2


def test_a_window_reads_only_what_overlaps_it_whatever_the_span(store: SubjectStore) -> None:
    base = datetime(2026, 6, 1, tzinfo=UTC)

    def at(days: float) -> str:
        return (base + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    (subject,) = generate_subjects(1, seed=9, ip_events=0)
    # Events of every span class: a sighting, an hour, a day, a week, a month, a year, two years.
    spans = [0, 1 / 24, 1, 7, 30, 365, 730]
    subject["ip_events"] = [{"ip": f"198.51.100.{i}", "first_seen": at(-span), "last_seen": at(0)}
                            for i, span in enumerate(spans)] + [
        {"ip": "198.51.100.99", "first_seen": at(-800), "last_seen": at(-799)},
        {"ip": "198.51.100.98", "first_seen": at(5), "last_seen": at(6)}]
    store.put(parse_subject(subject))
    record = parse_subject(subject)
    for window in [(base - timedelta(days=d), base + timedelta(days=e)) for d, e in
                   ((0, 1), (2, -1), (400, -399), (900, -700), (1, 10), (0.5, 0.5), (3000, 3000))]:
        assert store.read_field(subject["id"], "ipAddresses", window) == record.field_value("ipAddresses", window)


def test_retention_by_range_keeps_what_it_is_told_to(store: SubjectStore, db: Database) -> None:
    kept, purged = generate_subjects(2, seed=10, ip_events=5)
    Ingestion(store).upsert_lines(jsonl([kept, purged]), reject=Rejects())
    cutoff = 2**61  # after every generated event
    deleted = list(store.expired_batches("ip", cutoff, keep=frozenset({kept["id"]}), batch=2))
    assert sum(n for n, _ in deleted) == 5 and all(whose == {purged["id"]} for _, whose in deleted)
    assert len(deleted) == 3  # batches of 2, 2, 1
    assert store.read_field(purged["id"], "ipAddresses", EVERYTHING) == []
    assert len(store.read_field(kept["id"], "ipAddresses", EVERYTHING) or []) == 5
    assert store.count_expired("ip", cutoff, [kept["id"]]) == 5


def test_an_event_row_moved_to_another_subject_or_window_does_not_open(store: SubjectStore, db: Database) -> None:
    first, second = generate_subjects(2, seed=11, ip_events=1)
    Ingestion(store).upsert_lines(jsonl([first, second]), reject=Rejects())
    e = EVENTS.c
    with db.engine.begin() as connection:
        row = connection.execute(select(e.id, e.first_seen).where(e.subject_id == first["id"], e.kind == "ip")).one()
        connection.execute(EVENTS.update().where(e.id == row.id).values(subject_id=second["id"]))
    with pytest.raises(StoreIntegrityError):
        store.read_field(second["id"], "ipAddresses", EVERYTHING)
    with db.engine.begin() as connection:
        connection.execute(EVENTS.update().where(e.id == row.id).values(subject_id=first["id"]))
    assert store.read_field(first["id"], "ipAddresses", EVERYTHING)
    with db.engine.begin() as connection:  # into another window
        connection.execute(EVENTS.update().where(e.id == row.id).values(first_seen=row.first_seen - 1))
    with pytest.raises(StoreIntegrityError):
        store.read_field(first["id"], "ipAddresses", EVERYTHING)
