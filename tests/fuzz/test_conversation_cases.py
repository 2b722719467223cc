"""The campaign reaches the authority's side of a request (docs/PROTOCOL.md §17) with real tokens
and real requests: its explicit cases alone ask, answer with an amendment, amend and withdraw,
served where the caller's role allows it, and each under every check of the campaign."""

from __future__ import annotations

import pytest
from hypothesis import Phase

from tests.support.fuzz import CallerKind, Fuzzer
from tests.support.lifecycle import audit_entries
from tests.support.world import World


def facts_of(world: World, request_ids: tuple[str, ...]) -> list[str]:
    return [f["kind"] for e in audit_entries(world.gateway.services) for f in e.get("facts", [])
            if f.get("request") in request_ids and f["kind"] != "request_submitted"]


@pytest.mark.fuzz
def test_a_reviewer_asks_and_an_authority_answers_amends_and_withdraws(fuzz_world: World) -> None:
    reviewer = Fuzzer(fuzz_world, CallerKind.REVIEWER)
    reviewer.run(max_examples=1, seed=7, phases=(Phase.explicit,))
    authority = Fuzzer(fuzz_world, CallerKind.AUTHORITY_WITH_ORDER)
    authority.run(max_examples=1, seed=7, phases=(Phase.explicit,))
    assert "clarification_requested" in facts_of(fuzz_world, reviewer.caller.requests)
    kinds = facts_of(fuzz_world, authority.caller.requests)
    # Another fuzzer's world: its own spare requests. The authority's first spare had no open
    # question (the reviewer asked on its own world's), so its answer is refused; the rest are served.
    assert "request_amended" in kinds and "request_withdrawn" in kinds, kinds
    assert reviewer.stats.failures == [] and authority.stats.failures == []
