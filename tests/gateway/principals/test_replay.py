"""The jti replay store: single use, shared through the database, purged after retention."""

from __future__ import annotations

import pytest

from gateway.errors import AuthenticationError
from gateway.principals.replay import ReplayStore
from gateway.store.engine import Database


def test_a_jti_is_single_use_per_issuer(db: Database) -> None:
    store = ReplayStore(db, retention_s=600)
    store.consume("bka-de", "jti-1", expires_at=1000, now=900)
    with pytest.raises(AuthenticationError, match="used before") as refused:
        store.consume("bka-de", "jti-1", expires_at=1000, now=901)
    assert refused.value.code == "TOKEN_REPLAYED"
    store.consume("police-fr", "jti-1", expires_at=1000, now=902)


def test_a_second_store_on_the_same_database_refuses_the_replay(db: Database) -> None:
    ReplayStore(db, retention_s=600).consume("bka-de", "jti-2", expires_at=1000, now=900)
    other = Database(db.url)
    try:
        with pytest.raises(AuthenticationError, match="used before") as refused:
            ReplayStore(other, retention_s=600).consume("bka-de", "jti-2", expires_at=1000, now=901)
        assert refused.value.code == "TOKEN_REPLAYED"
    finally:
        other.dispose()


def test_expired_jtis_are_purged_only_after_retention(db: Database) -> None:
    store = ReplayStore(db, retention_s=600)
    store.consume("bka-de", "old", expires_at=1000, now=900)
    store.consume("bka-de", "new", expires_at=5000, now=900)
    assert store.purge(now=1500) == 0  # still within retention: a replay must still be refused
    assert store.purge(now=1601) == 1
    store.consume("bka-de", "old", expires_at=9000, now=1700)  # forgotten, long after it could verify
    with pytest.raises(AuthenticationError, match="used before") as refused:
        store.consume("bka-de", "new", expires_at=5000, now=1700)
    assert refused.value.code == "TOKEN_REPLAYED"
