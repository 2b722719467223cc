"""Concurrent requests on one order never exceed its max_queries (issue 5), on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.world import World


def test_more_concurrent_requests_than_max_queries_disclose_exactly_max_queries(world: World) -> None:
    order = world.active_order(maxQueries=5)
    query = "{ order { subjects { phoneNumber { ciphertext } } } }"

    def fire(_: int) -> tuple[int, str | None]:
        response = world.gateway.post(world.authority, query, order=order["id"])
        body = response.json()
        return response.status_code, body["errors"][0]["extensions"]["code"] if "errors" in body else None

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(fire, range(24)))
    disclosed = [r for r in results if r[0] == 200]
    assert len(disclosed) == 5, results
    assert all(r == (403, "ORDER_EXHAUSTED") for r in results if r[0] != 200), results
    meta = world.gateway.post(world.authority, "{ order { queriesUsed status } }", order=order["id"])
    assert meta.json()["data"]["order"] == {"queriesUsed": 5, "status": "EXHAUSTED"}
