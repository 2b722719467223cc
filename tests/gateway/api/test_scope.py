"""What an operation would touch, read from its AST before anything runs: every way of reaching a
field (alias, inline fragment, named fragment, a directive that may skip it) counts."""

from __future__ import annotations

import pytest

from gateway.api.graphql.engine import GraphQLEngine
from gateway.api.graphql.schema import build_schema
from gateway.api.graphql.scope import OperationScope, analyse, coerce_variables
from gateway.errors import BadRequest
from gateway.values.selector import Selector

ENGINE = GraphQLEngine(build_schema()._schema, max_tokens=2000, max_depth=12, max_aliases=20)


def scope_of(query: str, variables: dict[str, object] | None = None) -> OperationScope:
    prepared = ENGINE.prepare(query, None)
    coerced = coerce_variables(ENGINE.schema, prepared, variables, frozenset())
    return analyse(ENGINE.schema, prepared, coerced)


@pytest.mark.parametrize("query", [
    '{ subject(by: {id: "u1"}) { ipAddresses { ciphertext } } }',
    '{ s: subject(by: {id: "u1"}) { other: ipAddresses { ciphertext } } }',
    '{ subject(by: {id: "u1"}) { ... on Subject { ipAddresses { ciphertext } } } }',
    '{ subject(by: {id: "u1"}) { ...F } } fragment F on Subject { ipAddresses { ciphertext } }',
    '{ subject(by: {id: "u1"}) { ...F } } fragment F on Subject { ...G } '
    'fragment G on Subject { ipAddresses { ciphertext } }',
    '{ subject(by: {id: "u1"}) { ipAddresses @skip(if: true) { ciphertext } } }',
    '{ subject(by: {id: "u1"}) { ipAddresses @include(if: false) { ciphertext } } }',
])
def test_a_subject_field_counts_however_it_is_reached(query: str) -> None:
    scope = scope_of(query)
    assert scope.touches_subjects
    assert scope.subject_fields == {"ipAddresses"}
    assert scope.root_fields == {"subject"}
    assert ("Subject", "ipAddresses") in scope.type_fields
    assert scope.selectors == [Selector.of("u1", None, None)]


def test_a_root_field_inside_a_fragment_on_query_is_a_root_field() -> None:
    scope = scope_of("{ ...Q } fragment Q on Query { whoami { id } requests { id } }")
    assert scope.root_fields == {"whoami", "requests"}
    assert not scope.touches_subjects


def test_every_subject_selector_is_read_from_literals_and_variables_in_order() -> None:
    scope = scope_of('query($p: String!) { a: subject(by: {phoneNumber: $p}) { phoneNumber { ciphertext } } '
                     'b: subject(by: {username: "alice"}) { phoneNumber { ciphertext } } }', {"p": "+4915112345678"})
    assert scope.selectors == [Selector.of(None, None, "+4915112345678"), Selector.of(None, "alice", None)]


def test_introspection_fields_are_not_root_fields_of_the_gateway() -> None:
    assert scope_of("{ __typename whoami { id } }").root_fields == {"whoami"}


def test_a_variable_of_the_wrong_type_is_a_bad_request_that_names_no_value() -> None:
    prepared = ENGINE.prepare('query($p: String!) { subject(by: {phoneNumber: $p}) { phoneNumber { ciphertext } } }',
                              None)
    with pytest.raises(BadRequest) as refused:
        coerce_variables(ENGINE.schema, prepared, {"p": 4915112345678}, frozenset())
    assert "4915112345678" not in refused.value.message
