"""Flood control: past the limit, refusals before authentication get 429 with no entry of their
own, counted by summary entries (issue 6) made durable before the 429s they count are answered
(issue 11)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from gateway.api.http.rate_limit import FloodControl
from gateway.app import create_app
from gateway.config import Settings
from gateway.maintenance.initialize import initialize
from gateway.principals.registry import Role
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
    # No wait to share a summary: each 429 of these sequential requests gets its own.
    config = make_settings(database_url=database_url, rate_limit_per_minute=LIMIT, rate_limit_summary_interval_s=0)
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


def test_a_flood_gets_429s_each_counted_by_a_durable_summary_entry(start: Callable[..., Any]) -> None:
    with start() as gateway:
        answers = []
        for sent in range(LIMIT + 12):
            answers.append(gateway.post(None, WHOAMI))
            # Issue 11: what a 429 counts is in the log when it is answered, not when the window
            # closes (a process killed before that lost its 429s).
            counted = sum(e["count"] for e in entries(gateway) if e["decision"] == "rate_limited")
            assert counted == max(0, sent + 1 - LIMIT)
        assert [a.status_code for a in answers] == [401] * LIMIT + [429] * 12
        limited = answers[-1]
        body = limited.json()
        assert body["errors"][0]["extensions"] == {"code": "RATE_LIMITED"}
        assert body["extensions"]["audit"]["rate_limited"] is True
        window = body["extensions"]["audit"]["summary_window"]
        assert set(body["extensions"]["audit"]) == {"rate_limited", "summary_window", "summary_index"}
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "data" not in body
        log = entries(gateway)
    assert [e["decision"] for e in log[:LIMIT]] == ["refused"] * LIMIT  # within the limit, one entry each
    summaries = log[LIMIT:]
    assert [a.json()["extensions"]["audit"]["summary_index"] for a in answers[LIMIT:]] == \
        [e["index"] for e in summaries]
    assert {(e["decision"], e["code"], e["principal"]) for e in summaries} == {("rate_limited", "RATE_LIMITED", None)}
    assert sum(e["count"] for e in summaries) == 12
    assert sum(e["sources"] for e in summaries) == 1
    assert all(e["window"] == window for e in summaries)
    assert "203.0.113.7" not in json.dumps(log)  # the address is nowhere in the log


def test_concurrent_429s_share_one_summary_entry(limited: Settings, clock: Clock) -> None:
    settings = limited.model_copy(update={"rate_limit_summary_interval_s": 0.2})
    services = Services.build(settings, clock=clock)
    with TestClient(create_app(settings, services=services), client=("203.0.113.9", 4711)) as client:
        gateway = Harness(settings, client, services)
        assert [gateway.post(None, WHOAMI).status_code for _ in range(LIMIT)] == [401] * LIMIT
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: gateway.post(None, WHOAMI), range(8)))
        assert [a.status_code for a in answers] == [429] * 8
        log = entries(gateway)
    summaries = log[LIMIT:]
    assert sum(e["count"] for e in summaries) == 8
    assert len(summaries) < 8  # waiting together, they share entries
    assert {a.json()["extensions"]["audit"]["summary_index"] for a in answers} == {e["index"] for e in summaries}


def test_a_signed_request_from_a_limited_address_is_served_and_logged(start: Callable[..., Any]) -> None:
    with start() as gateway:
        bka = gateway.add(Role.AUTHORITY, "bka-de")
        for _ in range(LIMIT + 3):
            gateway.post(None, WHOAMI)
        response = gateway.post(bka, WHOAMI)
        assert response.status_code == 200
        assert response.json()["extensions"]["audit"]["index"] == LIMIT + 3  # after the three 429s' summaries
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


def test_the_summaries_are_in_the_log_after_a_restart(start: Callable[..., Any]) -> None:
    with start() as gateway:
        for _ in range(LIMIT + 4):
            gateway.post(None, WHOAMI)
    with start() as reopened:
        log = entries(reopened)
    assert [e["decision"] for e in log] == ["refused"] * LIMIT + ["rate_limited"] * 4
    assert sum(e["count"] for e in log[LIMIT:]) == 4


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
    assert not flood.refusal("a", t0 + timedelta(seconds=54)).allowed  # 10:00:59, still the same window
    later = t0 + timedelta(seconds=55)
    assert flood.refusal("a", later).allowed
    (summary,) = flood.take()
    assert (summary.count, summary.sources) == (3, 1)
    assert (summary.start, summary.end) == (datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
                                            datetime(2026, 11, 22, 10, 1, tzinfo=UTC))
    assert flood.take() == []  # each count is handed out once
    assert [flood.refusal("a", later).allowed for _ in range(2)] == [True, False]
    (summary,) = flood.take()
    assert (summary.count, summary.sources, summary.start) == (1, 1, datetime(2026, 11, 22, 10, 1, tzinfo=UTC))


def test_memory_is_bounded_by_the_tracked_addresses() -> None:
    flood = FloodControl(1, max_tracked=3)
    t0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert all(flood.refusal(f"10.0.0.{n}", t0).allowed for n in range(3))
    # Addresses past the bound share one counter: a spray of new addresses is limited as one.
    assert [flood.refusal(f"10.0.1.{n}", t0).allowed for n in range(3)] == [True, False, False]
    assert len(flood._refusals) == 4
    (summary,) = flood.take()
    assert (summary.count, summary.sources) == (2, 1)
