"""A gateway and a populated world for the fuzzers.

The CI budget is spent on SQLite (PostgreSQL is covered by the storage, order, disclosure and
hostile-input suites); ``GATEWAY_FUZZ_DATABASE_URL`` (a PostgreSQL URL, as for
``GATEWAY_TEST_DATABASE_URL``) points the fuzzers at PostgreSQL instead, each test in a schema of
its own. Flood control is raised out of reach: an unsigned caller sends ~1000 refused requests a
minute here, and docs/PROTOCOL.md §7's one-entry-per-request check would otherwise meet the documented
429 exception (tested in tests/gateway/audit)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.maintenance.initialize import initialize
from tests.support.harness import running_gateway
from tests.support.pg import throwaway_schema
from tests.support.world import World, build_world

FUZZ_DATABASE_ENV = "GATEWAY_FUZZ_DATABASE_URL"


@pytest.fixture
def fuzz_database_url(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get(FUZZ_DATABASE_ENV)
    if not base:
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    with throwaway_schema(base, prefix="fuzz") as url:
        yield url


@pytest.fixture
def fuzz_world(make_settings: Callable[..., Settings], fuzz_database_url: str) -> Iterator[World]:
    settings = make_settings(database_url=fuzz_database_url, rate_limit_per_minute=10**9)
    initialize(settings)
    with running_gateway(settings) as harness:
        yield build_world(harness)
