"""Who may select what, stated once: the access check before any resolver and each resolver's own
check read the same tables, and anything the tables do not open is closed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest

from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.roles import FIELD_ROLES, ROOT_ROLES, check_role
from gateway.api.graphql.schema import build_schema
from gateway.errors import ForbiddenRole
from gateway.principals.registry import Role

ROOTS = sorted(ROOT_ROLES)


@pytest.mark.parametrize(("type_field", "role"), [(tf, r) for tf in ROOTS for r in Role])
def test_a_root_field_is_open_to_exactly_the_roles_its_row_names(type_field: tuple[str, str], role: Role) -> None:
    if role in ROOT_ROLES[type_field]:
        check_role(*type_field, role)
    else:
        with pytest.raises(ForbiddenRole, match=rf"^{type_field[1]} is for a .*; your principal is a {role.value}$"):
            check_role(*type_field, role)


@pytest.mark.parametrize("type_name", ["Query", "Mutation"])
def test_a_root_field_missing_from_the_table_is_closed_to_everyone(type_name: str) -> None:
    for role in Role:
        with pytest.raises(ForbiddenRole, match=r"^dropEverything is not open to any principal$"):
            check_role(type_name, "dropEverything", role)


def test_restricted_fields_are_refused_to_other_roles_and_open_fields_to_none() -> None:
    for (type_name, field_name), allowed in FIELD_ROLES.items():
        for role in set(Role) - allowed:
            with pytest.raises(ForbiddenRole):
                check_role(type_name, field_name, role)
    check_role("LegalRequest", "id", Role.AUTHORITY)


def test_every_root_field_of_the_schema_has_a_row() -> None:
    schema = build_schema()._schema
    roots = {(t.name, f) for t in (schema.query_type, schema.mutation_type) if t is not None for f in t.fields}
    assert roots - set(ROOT_ROLES) == set()


@dataclass
class _Path:
    typename: str | None


@dataclass
class _Info:
    path: _Path
    field_name: str


@dataclass
class _Principal:
    role: Role


@dataclass
class _Caller:
    principal: _Principal


def context_of(role: Role) -> RequestContext:
    # Only the caller's role is read by require(); no service is reached.
    return RequestContext(services=cast(Any, None), caller=cast(Any, _Caller(_Principal(role))), request_id="req_t",
                          now=cast(Any, None))


def test_a_resolver_requires_what_the_table_says() -> None:
    context_of(Role.REVIEWER).require(cast(Any, _Info(_Path("Mutation"), "approveOrder")))
    with pytest.raises(ForbiddenRole, match=r"^approveOrder is for a reviewer; your principal is a authority$"):
        context_of(Role.AUTHORITY).require(cast(Any, _Info(_Path("Mutation"), "approveOrder")))


@pytest.mark.parametrize("typename", [None, "LegalRequest", "Subject"])
def test_a_resolver_check_outside_the_root_types_is_closed(typename: str | None) -> None:
    with pytest.raises(ForbiddenRole, match=r"^id is not open to any principal$"):
        context_of(Role.REVIEWER).require(cast(Any, _Info(_Path(typename), "id")))
