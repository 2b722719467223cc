"""Preservation holds and retention through the HTTP app (docs/PROTOCOL.md §16.2, §16.3): a held
subject's IP events survive `retention run` while another's are deleted from the database file
itself, and the hold's expiry releases them on the next run. Every test runs on both subject sources:
with sql, retention applies to the copies holds keep only (test_preserved.py has their own tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.lifecycle.retention import Cutoffs, expire
from gateway.subjects.parsing import parse_subject
from tests.support.clock import Clock, gateway_clock, post_at
from tests.support.lifecycle import (
    EXTEND_HOLD,
    GRANT_HOLD,
    SUBMIT_HOLD,
    audit_entries,
    database_file_bytes,
    retention,
    sealed_ip_events,
)
from tests.support.plaintext import leaks, secrets_of
from tests.support.platform import on_both_sources  # noqa: F401  (every test here on both subject sources)
from tests.support.world import World

START = datetime(2027, 1, 15, tzinfo=UTC)  # every generated IP event is older than 30 days by then
COUNTS = ("{ preservationCounts { country pending granted rejected active extended } "
          "preservations { id status active } }")


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


post = post_at


def held(world: World, clock: Clock, *, days: int = 30) -> dict[str, Any]:
    """A granted hold on subjects[0], asked for by phone number."""
    until = (clock.now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    submitted = post(world, clock, world.authority, SUBMIT_HOLD, {"i": {
        "subjects": [{"phoneNumber": world.subjects[0]["phone"]}], "caseReference": "AZ 99/27",
        "jurisdiction": "DE", "legalBasis": "§ 100g StPO", "until": until}})
    assert submitted.status_code == 200, submitted.text
    hold = submitted.json()["data"]["submitPreservation"]
    assert hold["status"] == "PENDING" and hold["active"] is False
    granted = post(world, clock, world.reviewers[0], GRANT_HOLD, {"id": hold["id"]})
    assert granted.status_code == 200, granted.text
    data = dict(granted.json()["data"]["grantPreservation"])
    assert data["active"] is True and data["subjectIds"] == [world.subjects[0]["id"]]
    return data


def test_expire_drops_only_what_is_past_each_cutoff(world: World) -> None:
    record = parse_subject(world.subjects[0])
    cutoff = START - timedelta(days=30)
    kept, (ips, devices, history) = expire(record, Cutoffs(cutoff))
    assert ips == len(record.ip_events) > 0 and kept.ip_events == ()
    assert (devices, history) == (0, 0) and kept.devices == record.devices  # off by default
    everything = Cutoffs(cutoff, devices=cutoff, username_history=cutoff)
    kept, (_, devices, history) = expire(record, everything)
    assert devices == len(record.devices) and all(u.until is None for u in kept.username_history)


def test_a_hold_keeps_a_subjects_ip_events_while_anothers_are_deleted_from_the_file(
        world: World, clock: Clock) -> None:
    services = world.gateway.services
    if services.db.dialect != "sqlite":
        pytest.skip("reads SQLite's database file; on PostgreSQL retention VACUUMs the table")
    if services.settings.subject_source == "sql":
        pytest.skip("with sql no unheld subject is stored: test_preserved.py deletes a copy from the file")
    held(world, clock)
    kept_id, purged_id = world.subjects[0]["id"], world.subjects[1]["id"]
    kept_before, purged_before = sealed_ip_events(services, kept_id), sealed_ip_events(services, purged_id)
    assert kept_before and purged_before
    on_disk = database_file_bytes(services)
    # The search can succeed: every ciphertext is in the file before the run.
    assert all(sealed[25:89] in on_disk for sealed in purged_before + kept_before)

    report, _ = retention(services, clock.now)
    assert report.subjects_held == 1 and report.ip_events_deleted == sum(
        len(s["ip_events"]) for s in world.subjects[1:])
    assert services.subjects.get(purged_id).ip_events == ()
    assert len(services.subjects.get(kept_id).ip_events) == len(world.subjects[0]["ip_events"])
    on_disk = database_file_bytes(services)
    assert not any(sealed[25:89] in on_disk for sealed in purged_before), \
        "the purged subject's old ciphertext is still in the file"
    assert all(sealed[25:89] in on_disk for sealed in kept_before)
    assert sealed_ip_events(services, kept_id) == kept_before and sealed_ip_events(services, purged_id) == []


def test_the_holds_expiry_releases_its_subject_on_the_next_run(world: World, clock: Clock) -> None:
    services = world.gateway.services
    hold = held(world, clock, days=10)
    retention(services, clock.now)
    kept_id = world.subjects[0]["id"]
    assert len(services.subjects.get(kept_id).ip_events) == len(world.subjects[0]["ip_events"])
    clock.advance(days=10)  # the hold ends exactly now
    listed = post(world, clock, world.reviewers[1], COUNTS).json()["data"]
    assert {"id": hold["id"], "status": "GRANTED", "active": False} in listed["preservations"]
    report, _ = retention(services, clock.now)
    if services.settings.subject_source == "sql":  # the hold's copy goes whole
        assert report.subjects_held == 0 and report.copies_deleted == 1 and report.ip_events_deleted == 0
        assert services.subjects.get(kept_id) is None
        return
    assert report.subjects_held == 0 and report.ip_events_deleted == len(world.subjects[0]["ip_events"])
    assert services.subjects.get(kept_id).ip_events == ()


def test_each_purge_appends_one_audit_entry_with_counts_only(world: World, clock: Clock) -> None:
    services = world.gateway.services
    held(world, clock)
    before = world.gateway.audit_size()
    report, receipt = retention(services, clock.now)
    assert receipt.index == before and world.gateway.audit_size() == before + 1
    entry = audit_entries(services)[receipt.index]
    (fact,) = entry["facts"]
    assert fact["kind"] == "retention_purge" and fact["ip_events_deleted"] == report.ip_events_deleted
    assert fact["cutoff"] == {"ip_events": "2026-12-16T00:00:00Z", "devices": None, "username_history": None}
    assert entry["subjects"] == [] and entry["principal"] is None
    assert leaks([json.dumps(e) for e in audit_entries(services)], secrets_of(world.subjects)) == []


def test_a_hold_lasts_at_most_90_days_and_extends_once(world: World, clock: Clock) -> None:
    too_long = (clock.now + timedelta(days=91)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = post(world, clock, world.authority, SUBMIT_HOLD, {"i": {
        "subjects": [{"id": world.subjects[0]["id"]}], "caseReference": "c", "jurisdiction": "DE",
        "legalBasis": "b", "until": too_long}})
    assert response.status_code == 400 and "90 days" in response.text
    hold = held(world, clock, days=90)
    end = datetime.fromisoformat(hold["grantedUntil"])
    extended = post(world, clock, world.authority, EXTEND_HOLD,
                    {"id": hold["id"], "u": (end + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert extended.status_code == 200, extended.text
    assert extended.json()["data"]["extendPreservation"]["extended"] is True
    again = post(world, clock, world.authority, EXTEND_HOLD,
                 {"id": hold["id"], "u": (end + timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert again.status_code == 400 and "once" in again.text
    stranger = post(world, clock, world.other_authority, EXTEND_HOLD, {"id": hold["id"], "u": "2027-09-01T00:00:00Z"})
    assert stranger.status_code == 400 and "no such preservation" in stranger.text


def test_holds_are_listed_for_reviewers_and_counted_per_country(world: World, clock: Clock) -> None:
    held(world, clock)
    other = post(world, clock, world.other_authority, SUBMIT_HOLD, {"i": {
        "subjects": [{"username": "nobody_at_all"}], "caseReference": "PV 1", "jurisdiction": "FR",
        "legalBasis": "CPP", "until": "2027-02-01T00:00:00Z"}})
    assert other.status_code == 200, other.text
    counts = post(world, clock, world.reviewers[1], COUNTS).json()["data"]["preservationCounts"]
    assert counts == [{"country": "DE", "pending": 0, "granted": 1, "rejected": 0, "active": 1, "extended": 0},
                      {"country": "FR", "pending": 1, "granted": 0, "rejected": 0, "active": 0, "extended": 0}]
    own = post(world, clock, world.other_authority, "{ preservations { id country } }").json()["data"]
    assert [h["country"] for h in own["preservations"]] == ["FR"]  # an authority sees its own only
    hidden = post(world, clock, world.other_authority, "{ preservations { subjectIds } }")
    assert hidden.status_code == 403 and hidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN_ROLE"


def test_the_serving_process_runs_retention_on_its_own_clock(world: World, clock: Clock) -> None:
    from gateway.app import retention_once

    services = world.gateway.services
    if services.settings.subject_source == "sql":
        held(world, clock, days=10)
        clock.advance(days=11)
    before = world.gateway.audit_size()
    retention_once(services)
    (fact,) = audit_entries(services)[before]["facts"]
    if services.settings.subject_source == "sql":  # the ended hold's copy, and nothing else
        assert fact["kind"] == "retention_purge" and fact["copies_deleted"] == 1 and fact["ip_events_deleted"] == 0
        assert services.subjects.get(world.subjects[0]["id"]) is None
        return
    assert fact["kind"] == "retention_purge" and fact["ip_events_deleted"] > 0
    assert services.subjects.get(world.subjects[0]["id"]).ip_events == ()


def test_a_rejected_hold_keeps_nothing_and_every_act_is_audited_by_count(world: World, clock: Clock) -> None:
    services = world.gateway.services
    submitted = post(world, clock, world.authority, SUBMIT_HOLD, {"i": {
        "subjects": [{"username": world.subjects[0]["username"]}], "caseReference": "AZ 5/27", "jurisdiction": "DE",
        "legalBasis": "StPO", "until": "2027-02-01T00:00:00Z"}}).json()["data"]["submitPreservation"]
    reject = "mutation($i: ID!) { rejectPreservation(id: $i, reason: \"no basis\") { status rejectionReason } }"
    rejected = post(world, clock, world.reviewers[0], reject, {"i": submitted["id"]}).json()["data"]
    assert rejected["rejectPreservation"] == {"status": "REJECTED", "rejectionReason": "no basis"}
    late = post(world, clock, world.reviewers[1], GRANT_HOLD, {"id": submitted["id"]})
    assert code_of(late) == "BAD_REQUEST" and "is REJECTED" in late.text
    report, _ = retention(services, clock.now)
    assert report.subjects_held == 0
    facts = [f for e in audit_entries(services) for f in e.get("facts", [])]
    assert [f["kind"] for f in facts if f["kind"].startswith("preservation")] == [
        "preservation_submitted", "preservation_rejected"]
    assert all(f["subjects"] == 1 and f["country"] == "DE" for f in facts if f["kind"].startswith("preservation"))
    assert leaks([json.dumps(facts)], secrets_of(world.subjects)) == []


def code_of(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])
