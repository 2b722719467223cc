"""Issue 12: what a request no longer recomputes must still refuse what it refused.

- The per-order count is read by primary key, and an edited count (lowered, or an older genuine
  one put back) grants nothing beyond what the log allows.
- Cached order verification is dropped by every replica on one database when a reviewer is
  suspended, a key retired or the order revoked, on the very next request.
- A token sent twice at once discloses once, even though its jti is recorded only at commit.
- A disclosure's reads (token key, jti, order, subject) share one pooled connection.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event, text

from gateway.principals.registry import PrincipalRegistry
from tests.support.harness import running_gateway
from tests.support.jwt import kid_of, mint
from tests.support.world import World

QUERY = "{ order { subjects { phoneNumber { ciphertext } } } }"


def code(response: Any) -> str | None:
    body = response.json()
    return body["errors"][0]["extensions"]["code"] if "errors" in body else None


def usage(world: World, order_id: str) -> Any:
    with world.gateway.services.db.engine.connect() as conn:
        return conn.execute(text("SELECT queries_used, usage_index, usage_mac FROM orders WHERE id = :o"),
                            {"o": order_id}).one()


def set_usage(world: World, order_id: str, used: int, index: int | None, mac: bytes | None) -> None:
    with world.gateway.services.db.engine.begin() as conn:
        conn.execute(text("UPDATE orders SET queries_used = :u, usage_index = :i, usage_mac = :m WHERE id = :o"),
                     {"u": used, "i": index, "m": mac, "o": order_id})


def disclosures(world: World, order_id: str, count: int) -> list[str | None]:
    return [code(world.gateway.post(world.authority, QUERY, order=order_id)) for _ in range(count)]


def test_the_count_is_kept_by_the_writer_with_a_mac_over_the_last_charge(world: World) -> None:
    order = world.active_order(maxQueries=3)
    assert disclosures(world, order["id"], 2) == [None, None]
    used, index, mac = usage(world, order["id"])
    assert used == 2 and index == world.gateway.audit_size() - 1 and mac is not None and len(bytes(mac)) == 32


def test_a_lowered_count_grants_nothing(world: World) -> None:
    order = world.active_order(maxQueries=3)
    assert disclosures(world, order["id"], 2) == [None, None]
    _, index, mac = usage(world, order["id"])
    set_usage(world, order["id"], 0, index, mac)  # the MAC no longer matches: the log is counted
    assert disclosures(world, order["id"], 2) == [None, "ORDER_EXHAUSTED"]
    set_usage(world, order["id"], 0, None, None)  # no MAC at all: the log is counted
    assert disclosures(world, order["id"], 1) == ["ORDER_EXHAUSTED"]


def test_an_older_genuine_count_put_back_grants_nothing(world: World) -> None:
    order = world.active_order(maxQueries=3)
    assert disclosures(world, order["id"], 1) == [None]
    older = tuple(usage(world, order["id"]))
    assert disclosures(world, order["id"], 1) == [None]
    set_usage(world, order["id"], older[0], older[1], bytes(older[2]))  # MAC verifies, but a later disclosure exists
    assert disclosures(world, order["id"], 2) == [None, "ORDER_EXHAUSTED"]
    meta = world.gateway.post(world.authority, "{ order { queriesUsed status } }", order=order["id"])
    assert meta.json()["data"]["order"] == {"queriesUsed": 3, "status": "EXHAUSTED"}


def test_a_suspension_key_retirement_or_revocation_reaches_every_replica_at_once(world: World) -> None:
    orders = [world.active_order(maxQueries=50) for _ in range(3)]
    with running_gateway(world.gateway.settings) as replica:
        def from_replica(order_id: str) -> str | None:
            body = QUERY.encode()
            payload = b'{"query": "' + body.replace(b'"', b'\\"') + b'"}'
            token = mint(world.authority.signing_key, iss=world.authority.id, aud=replica.settings.id, body=payload,
                         ord=order_id)
            return code(replica.post(None, body=payload, token=token))

        assert [from_replica(o["id"]) for o in orders] == [None, None, None]  # cached in the replica now
        registry = PrincipalRegistry(world.gateway.services.db)
        registry.set_status(world.reviewers[1].id, "suspended")  # approved all three
        assert [from_replica(o["id"]) for o in orders] == ["ORDER_NOT_ACTIVE"] * 3
        registry.set_status(world.reviewers[1].id, "active")
        assert [from_replica(o["id"]) for o in orders] == [None, None, None]
        registry.retire_key(world.reviewers[0].id, kid_of(world.reviewers[0].signing_key), now=int(time.time()))
        assert from_replica(orders[0]["id"]) == "ORDER_NOT_ACTIVE"


def test_a_revocation_in_one_replica_refuses_in_another_on_the_next_request(world: World) -> None:
    order = world.active_order(maxQueries=50)
    with running_gateway(world.gateway.settings) as replica:
        payload = b'{"query": "{ order { subjects { id } } }"}'

        def from_replica() -> str | None:
            token = mint(world.authority.signing_key, iss=world.authority.id, aud=replica.settings.id, body=payload,
                         ord=order["id"])
            return code(replica.post(None, body=payload, token=token))

        assert from_replica() is None
        revoke = "mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"quashed\") { status } }"
        assert world.gateway.post(world.reviewers[2], revoke, variables={"o": order["id"]}).status_code == 200
        assert from_replica() == "ORDER_REVOKED"


def test_one_token_sent_many_times_at_once_discloses_once(world: World) -> None:
    order = world.active_order(maxQueries=50)
    body = ('{"query": "' + QUERY.replace('"', '\\"') + '"}').encode()
    token = mint(world.authority.signing_key, iss=world.authority.id, aud=world.gateway.settings.id, body=body,
                 ord=order["id"])
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: world.gateway.post(None, body=body, token=token), range(8)))
    assert sorted(r.status_code for r in results) == [200] + [401] * 7
    assert all(code(r) == "TOKEN_REPLAYED" for r in results if r.status_code == 401)
    assert usage(world, order["id"])[0] == 1


def test_audit_verify_holds_each_stored_count_to_the_log(world: World) -> None:
    from crypto.note import parse_verifier_key, verifier_key_string
    from gateway.audit.checkpoints import note_name
    from gateway.audit.verify import verify_log
    from gateway.errors import LogVerificationError

    order = world.active_order(maxQueries=5)
    assert disclosures(world, order["id"], 2) == [None, None]
    services = world.gateway.services
    verifier = parse_verifier_key(verifier_key_string(note_name(services.settings.origin),
                                                      bytes(services.keys.signing_key.verify_key)))
    with services.db.engine.connect() as connection:
        verify_log(connection, verifier)
    used, index, mac = usage(world, order["id"])
    assert used == 2
    for edited in (1, 3):
        set_usage(world, order["id"], edited, index, mac)
        with services.db.engine.connect() as connection, pytest.raises(LogVerificationError) as caught:
            verify_log(connection, verifier)
        assert caught.value.order == order["id"] and "2 disclosures" in caught.value.reason


def test_a_disclosure_reads_through_one_pooled_connection(world: World) -> None:
    order = world.active_order(maxQueries=5)
    assert disclosures(world, order["id"], 1) == [None]  # the caches are warm: only per-request reads remain
    checkouts: list[str] = []

    def checked_out(*_: Any) -> None:
        name = threading.current_thread().name
        if name.startswith("AnyIO worker"):  # the request's thread; the checkpointer polls from its own
            checkouts.append(name)

    engine = world.gateway.services.db.engine
    event.listen(engine, "checkout", checked_out)
    try:
        assert disclosures(world, order["id"], 1) == [None]
    finally:
        event.remove(engine, "checkout", checked_out)
    assert len(checkouts) == 1
