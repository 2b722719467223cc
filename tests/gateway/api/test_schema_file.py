"""`schema.graphql` at the repository root is generated from the code and must not drift."""

from __future__ import annotations

from pathlib import Path

from gateway.api.graphql.roles import ROOT_ROLES
from gateway.api.graphql.schema import build_schema, schema_sdl

ROOT = Path(__file__).resolve().parents[3]


def test_committed_schema_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == schema_sdl(), "schema.graphql is stale: run `gateway schema --write schema.graphql`"


def test_every_root_field_is_opened_deliberately_in_the_access_table() -> None:
    schema = build_schema()._schema
    roots = {("Query", name) for name in schema.query_type.fields}  # type: ignore[union-attr]
    roots |= {("Mutation", name) for name in schema.mutation_type.fields}  # type: ignore[union-attr]
    assert roots <= set(ROOT_ROLES), f"root fields without an access rule: {sorted(roots - set(ROOT_ROLES))}"


def test_protocol_core_names_are_present() -> None:
    sdl = schema_sdl()
    for fragment in ("subject(by: SubjectSelector!): Subject!", "order: Order!", "phoneNumber: Sealed",
                     "ipAddresses: Sealed", "devices: Sealed", "usernameHistory: Sealed", "recipientKeyId: String!",
                     "approveOrder(orderId: ID!, signature: String!): Order!", "enum OrderStatus",
                     "submitRequest(input: LegalRequestInput!): LegalRequest!", "unresolvedSelectors: Int!"):
        assert fragment in sdl, fragment
