"""The in-process gateway fixtures, for the gateway's tests and the client's tests alike (each
folder's conftest.py imports them)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from gateway.config import Settings
from tests.support.harness import Harness, running_gateway
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import World, build_world


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Harness]:
    """The real app on the parametrised database (SQLite, and PostgreSQL when configured)."""
    with running_gateway(settings) as harness:
        yield harness


@pytest.fixture
def world(gateway: Harness, caplog: pytest.LogCaptureFixture) -> Iterator[World]:
    """Six subjects, an authority, three reviewers, an auditor and a second authority.

    On teardown, every response body of the test and every log record are searched for the
    subjects' phone numbers, IPs and usernames: a test that leaks fails, whatever it asserted."""
    caplog.set_level(logging.DEBUG)
    populated = build_world(gateway)
    yield populated
    guarded = secrets_of(populated.subjects)
    records = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert leaks(gateway.bodies, guarded) == [], "plaintext subject data in a response body"
    assert leaks(records, guarded) == [], "plaintext subject data in a log record"
