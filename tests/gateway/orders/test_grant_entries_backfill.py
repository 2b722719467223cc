"""Upgrading a database whose grants do not name their audit entries yet (schema revision 0007):
the migration finds each grant's entry in the log by the fact that recorded it, so what the API
granted before still counts, and nothing else does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import text

from gateway.store import migrate
from gateway.values.times import format_time
from tests.gateway.orders.test_grants_need_their_entries import (
    ATTACH,
    COURT_ORDER,
    EXTEND_HOLD,
    GRANT_HOLD,
    HOLDS,
    START,
    Walk,
    edit,
    held_subjects,
)
from tests.support.clock import Clock, gateway_clock
from tests.support.world import World

_ENTRY_KEYS = ("court_order_entry", "grant_entry", "extend_entry")


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


def as_before_the_revision(world: World) -> None:
    """What a database written before grants named their entries holds: no column, no key."""
    engine = world.gateway.services.db.engine
    with engine.begin() as connection:
        for table in ("legal_requests", "preservations"):
            for row_id, details in list(connection.execute(text(f"SELECT id, details FROM {table}"))):
                found = json.loads(details)
                for key in _ENTRY_KEYS:
                    found.pop(key, None)
                if isinstance(found.get("emergency_verification"), dict):
                    found["emergency_verification"].pop("entry", None)
                connection.execute(text(f"UPDATE {table} SET details = :d WHERE id = :i"),
                                   {"d": json.dumps(found), "i": row_id})
    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    edit(world, "SELECT 1")  # bumps the state version: nothing cached stands in for the upgrade


def test_grants_made_through_the_api_before_the_revision_still_count(world: World, clock: Clock) -> None:
    walk = Walk(world, clock)
    normal = walk.draft(walk.normal())
    walk.approve(normal["id"], walk.r0)
    assert walk.approve(normal["id"], walk.r1).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    request_id, emergency = walk.verified_order()
    walk.approve(emergency["id"], walk.r1)
    clock.advance(hours=24)
    assert walk.post(world.authority, ATTACH, {"r": request_id, "h": COURT_ORDER}).status_code == 200
    clock.advance(hours=25)
    assert walk.approve(emergency["id"], walk.r2).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    hold_id = walk.hold()
    assert walk.post(walk.r0, GRANT_HOLD, {"id": hold_id}).status_code == 200
    extended = walk.post(world.authority, EXTEND_HOLD, {"id": hold_id, "u": format_time(START + timedelta(days=70))})
    assert extended.status_code == 200, extended.text
    clock.advance(days=20)

    as_before_the_revision(world)
    migrate.upgrade(world.gateway.services.db)
    with world.gateway.services.db.engine.connect() as connection:
        named = connection.execute(text("SELECT count(*) FROM order_approvals WHERE audit_request_id IS NOT NULL"))
        assert named.scalar_one() == 3
    edit(world, "SELECT 1")

    assert walk.status(normal["id"]) == "ACTIVE" and walk.disclose(normal["id"]).status_code == 200
    assert walk.status(emergency["id"]) == "ACTIVE" and walk.disclose(emergency["id"]).status_code == 200
    holds = {h["id"]: h for h in walk.post(walk.r2, HOLDS).json()["data"]["preservations"]}
    assert holds[hold_id]["active"] is True
    assert world.subjects[1]["id"] in held_subjects(world, clock.now)


def test_without_the_backfill_those_grants_would_count_for_nothing(world: World, clock: Clock) -> None:
    """The control: stripped of their entries' names, the same grants grant nothing."""
    walk = Walk(world, clock)
    normal = walk.draft(walk.normal())
    walk.approve(normal["id"], walk.r0)
    assert walk.approve(normal["id"], walk.r1).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    edit(world, "UPDATE order_approvals SET audit_request_id = NULL")
    walk.refused(normal["id"], "ORDER_NOT_ACTIVE")
