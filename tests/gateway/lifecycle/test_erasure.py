"""Deleting a subject (docs/PROTOCOL.md §9.3): all its rows go, the act is one audit entry that holds
no value of it, and a subject under an active preservation hold is refused naming the hold."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from gateway.errors import OperatorError, SubjectHeld
from gateway.lifecycle.erasure import delete_subject
from gateway.store.tables import metadata
from tests.gateway.lifecycle.test_retention import START, held
from tests.support.clock import Clock, gateway_clock
from tests.support.lifecycle import audit_entries
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import World


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


def rows_of(world: World, subject_id: str) -> tuple[int, int, int]:
    services = world.gateway.services
    counts = []
    with services.db.engine.connect() as connection:
        for table, column in (("subjects", "id"), ("subject_index", "subject_id"), ("subject_events", "subject_id")):
            t = metadata.tables[table]
            counts.append(int(connection.execute(select(func.count()).select_from(t).where(
                t.c[column] == subject_id)).scalar_one()))
    return counts[0], counts[1], counts[2]


def delete(world: World, clock: Clock, subject_id: str) -> tuple[int, int]:
    services = world.gateway.services
    deleted, receipt = delete_subject(db=services.db, subjects=services.subjects, holds=services.preservations,
                                      audit=services.audit, subject_id=subject_id, now=clock.now)
    return deleted, receipt.index


def test_delete_removes_every_row_and_records_the_act_without_a_value(world: World, clock: Clock) -> None:
    if world.gateway.services.settings.subject_source != "embedded":
        pytest.skip("the embedded store only")
    victim, other = world.subjects[0], world.subjects[1]
    events = len(victim["ip_events"]) + len(victim["devices"]) + len(victim["username_history"])
    assert rows_of(world, victim["id"]) == (1, 2, events)
    before = rows_of(world, other["id"])
    deleted, index = delete(world, clock, victim["id"])
    assert deleted == events and rows_of(world, victim["id"]) == (0, 0, 0)
    assert rows_of(world, other["id"]) == before
    assert world.gateway.services.subjects.find_by_phone(victim["phone"]) is None
    entry = audit_entries(world.gateway.services)[index]
    assert entry["decision"] == "served" and entry["principal"] is None
    assert entry["subjects"] == [victim["id"]] and entry["facts"] == [{"kind": "subject_deleted"}]
    assert leaks([json.dumps(entry)], secrets_of(world.subjects)) == []
    with pytest.raises(OperatorError, match="no subject has this id"):
        delete(world, clock, victim["id"])


def test_a_held_subject_is_refused_naming_the_hold_and_nothing_is_deleted(world: World, clock: Clock) -> None:
    hold = held(world, clock)
    subject_id = world.subjects[0]["id"]
    before, size = rows_of(world, subject_id), world.gateway.audit_size()
    with pytest.raises(SubjectHeld) as refused:
        delete(world, clock, subject_id)
    assert refused.value.hold_id == hold["id"] and hold["id"] in refused.value.message
    assert rows_of(world, subject_id) == before and world.gateway.audit_size() == size
    clock.advance(days=31)  # the hold has ended
    deleted, _ = delete(world, clock, subject_id)
    assert deleted > 0 and rows_of(world, subject_id) == (0, 0, 0)

