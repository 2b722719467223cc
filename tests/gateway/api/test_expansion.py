"""Issue 11, finding 1: a chain of fragments that each spread the previous one twice is measured
in work linear in the document and refused with QUERY_TOO_COMPLEX; empty selection sets, which the
GraphQL grammar forbids, are refused as unparseable."""

from __future__ import annotations

import pytest
from graphql import parse

from gateway.api.graphql.engine import MAX_EXPANDED_SELECTIONS
from gateway.api.graphql.expansion import measure_expansion
from gateway.errors import GraphQLParseFailed, QueryTooComplex
from tests.gateway.api.test_hostile import audited_once
from tests.support.world import World


def fragment_bomb(levels: int, innermost: str = "... on Query { }") -> str:
    """The attack as sent: about 40 bytes a level, 2^levels selections once expanded."""
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, levels + 1))
    return f"fragment F0 on Query {{ {innermost} }} {chain} query Q {{ ...F{levels} whoami {{ id }} }}"


def selection_nodes(query: str) -> int:
    return query.count("...") + query.count("whoami") + query.count(" id ") + query.count("__typename")


@pytest.mark.parametrize("levels", [20, 30, 60])
def test_a_fragment_bomb_is_refused_as_too_complex(world: World, levels: int) -> None:
    audited_once(world.gateway, lambda: world.gateway.post(world.auditor, fragment_bomb(levels)), 400,
                 "QUERY_TOO_COMPLEX")


@pytest.mark.parametrize("levels", [20, 60])
def test_a_fragment_bomb_of_real_fields_is_refused_as_too_complex(world: World, levels: int) -> None:
    query = fragment_bomb(levels, innermost="__typename")
    audited_once(world.gateway, lambda: world.gateway.post(world.auditor, query), 400, "QUERY_TOO_COMPLEX")


@pytest.mark.parametrize("query", ["query { }", "{ whoami { } }", "{ whoami { id } } fragment F on Query { }",
                                   "{ ... on Query { } whoami { id } }"])
def test_an_empty_selection_set_does_not_parse(world: World, query: str) -> None:
    audited_once(world.gateway, lambda: world.gateway.post(world.auditor, query), 400, "GRAPHQL_PARSE_FAILED")


def test_measuring_a_bomb_visits_each_selection_of_the_document_once() -> None:
    # With the limit out of reach the measurement runs to the end: 2^60 selections described,
    # about 120 visited.
    query = fragment_bomb(60, innermost="__typename")
    expansion = measure_expansion(parse(query), limit=2**80)
    assert expansion.size > 2**60
    assert expansion.steps <= selection_nodes(query)


def test_the_refusal_comes_from_the_measurement_not_from_later_steps() -> None:
    with pytest.raises(QueryTooComplex, match="once its fragments are expanded"):
        measure_expansion(parse(fragment_bomb(60)), limit=MAX_EXPANDED_SELECTIONS)
    with pytest.raises(GraphQLParseFailed, match="at least one field"):
        measure_expansion(parse(fragment_bomb(3)), limit=MAX_EXPANDED_SELECTIONS)


def test_an_ordinary_query_is_measured_exactly() -> None:
    query = "query { whoami { id } ...F } fragment F on Query { a: whoami { id } }"
    assert measure_expansion(parse(query), limit=MAX_EXPANDED_SELECTIONS).size == 5
