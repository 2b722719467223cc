"""Flood control: past the limit, refusals before authentication get 429 with no entry of their
own, and each window's rate-limited requests are summarised in one entry (issue 6)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from gateway.api.ratelimit import FloodControl
from gateway.app import create_app
from gateway.config import Settings
from gateway.initialize import initialize
from gateway.principals import Role
from gateway.services import Services
from gateway.store.tables import AuditEntry
from tests.support.harness import Harness

LIMIT = 5
WHOAMI = "{ whoami { id } }"
_entries = AuditEntry.__table__  # type: ignore[attr-defined]


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    # Real time, so that tokens minted now verify; it moves only when the test moves it.
    return Clock(datetime.now(UTC))


@pytest.fixture
def limited(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    config = make_settings(database_url=database_url, rate_limit_per_minute=LIMIT)
    initialize(config)
    return config


@pytest.fixture
def start(limited: Settings, clock: Clock) -> Callable[..., Any]:
    @contextmanager
    def factory(address: str = "203.0.113.7") -> Iterator[Harness]:
        services = Services.build(limited, clock=clock)
        with TestClient(create_app(limited, services=services), client=(address, 4711)) as client:
            yield Harness(limited, client, services)

    return factory


def entries(harness: Harness) -> list[dict[str, Any]]:
    with harness.services.db.engine.connect() as connection:
        return [json.loads(t) for t in connection.execute(select(_entries.c.entry).order_by(_entries.c.idx)).scalars()]


def test_a_flood_gets_429s_and_one_summary_entry(start: Callable[..., Any], clock: Clock) -> None:
    with start() as gateway:
        answers = [gateway.post(None, WHOAMI) for _ in range(LIMIT + 12)]
        assert [a.status_code for a in answers] == [401] * LIMIT + [429] * 12
        assert gateway.audit_size() == LIMIT  # the refusals within the limit, one entry each
        limited = answers[-1]
        body = limited.json()
        assert body["errors"][0]["extensions"] == {"code": "RATE_LIMITED"}
        assert body["extensions"]["audit"]["rate_limited"] is True
        window = body["extensions"]["audit"]["summary_window"]
        assert set(body["extensions"]["audit"]) == {"rate_limited", "summary_window"}  # no receipt: no entry
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "data" not in body

        clock.now += timedelta(seconds=60)  # the window closes; the next request writes its summary
        bka = gateway.add(Role.AUTHORITY, "bka-de")
        assert gateway.post(bka, WHOAMI).status_code == 200
        log = entries(gateway)
    summaries = [e for e in log if e["decision"] == "rate_limited"]
    assert len(log) == LIMIT + 2
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary["code"] == "RATE_LIMITED"
    assert summary["count"] == 12
    assert summary["sources"] == 1
    assert summary["principal"] is None
    assert summary["window"] == window
    assert "203.0.113.7" not in json.dumps(log)  # the address is nowhere in the log


def test_a_signed_request_from_a_limited_address_is_served_and_logged(start: Callable[..., Any]) -> None:
    with start() as gateway:
        bka = gateway.add(Role.AUTHORITY, "bka-de")
        for _ in range(LIMIT + 3):
            gateway.post(None, WHOAMI)
        response = gateway.post(bka, WHOAMI)
        assert response.status_code == 200
        assert response.json()["extensions"]["audit"]["index"] == LIMIT
        # A bad token is still a refusal before authentication: limited.
        assert gateway.post(bka, WHOAMI, lifetime=301).status_code == 429


def test_every_kind_of_refusal_before_authentication_counts(start: Callable[..., Any]) -> None:
    with start() as gateway:
        bka = gateway.add(Role.AUTHORITY, "bka-de")
        kinds = [
            lambda: gateway.client.get("/graphql"),
            lambda: gateway.post(bka, WHOAMI, headers={"content-type": "text/plain"}),
            lambda: gateway.post(bka, body=b"x" * (gateway.settings.max_body_bytes + 1)),
            lambda: gateway.post(None, WHOAMI, token="garbage"),
            lambda: gateway.post(None, WHOAMI),
        ]
        assert [k().status_code for k in kinds] == [405, 415, 413, 401, 401]
        assert [k().status_code for k in kinds] == [429] * 5
        # Refusals after authentication are the principal's own, logged and never limited.
        assert gateway.post(bka, body=b"{not json").status_code == 400


def test_the_summary_is_written_at_shutdown(start: Callable[..., Any]) -> None:
    with start() as gateway:
        for _ in range(LIMIT + 4):
            gateway.post(None, WHOAMI)
    with start() as reopened:
        log = entries(reopened)
    assert [e["decision"] for e in log] == ["refused"] * LIMIT + ["rate_limited"]
    assert log[-1]["count"] == 4


def test_addresses_are_limited_apart(start: Callable[..., Any]) -> None:
    with start("198.51.100.1") as gateway:
        neighbour = TestClient(gateway.client.app, client=("198.51.100.2", 4711))
        assert [gateway.post(None, WHOAMI).status_code for _ in range(LIMIT + 1)][-1] == 429
        assert neighbour.post("/graphql", json={"query": WHOAMI}).status_code == 401


def test_windows_count_afresh() -> None:
    flood = FloodControl(2, window_seconds=60)
    t0 = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)
    assert [flood.refusal("a", t0).allowed for _ in range(4)] == [True, True, False, False]
    assert flood.refusal("b", t0).allowed
    assert flood.closed(t0 + timedelta(seconds=54)) == []  # 10:00:59, still the same window
    later = t0 + timedelta(seconds=55)
    assert flood.refusal("a", later).allowed
    (summary,) = flood.closed(later)
    assert (summary.count, summary.sources) == (2, 1)
    assert (summary.start, summary.end) == (datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
                                            datetime(2026, 11, 22, 10, 1, tzinfo=UTC))
    assert flood.closed(later) == []  # each summary is handed out once
    flood.restore(summary)
    assert flood.drain() == [summary]  # kept for the next write when the first failed


def test_memory_is_bounded_by_the_tracked_addresses() -> None:
    flood = FloodControl(1, max_tracked=3)
    t0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert all(flood.refusal(f"10.0.0.{n}", t0).allowed for n in range(3))
    # Addresses past the bound share one counter: a spray of new addresses is limited as one.
    assert [flood.refusal(f"10.0.1.{n}", t0).allowed for n in range(3)] == [True, False, False]
    assert len(flood._refusals) == 4
    (summary,) = flood.drain()
    assert (summary.count, summary.sources) == (2, 1)
