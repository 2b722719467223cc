"""The client's wire names are the schema's: every operation it sends validates against the
committed ``schema.graphql``, and every enum it offers on its command line has the schema's values."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLObjectType, build_schema, parse, validate

from client import operations, wire
from client.operations import QueryTarget, disclosure_query

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text(encoding="utf-8"))


def _disclosure_operations() -> dict[str, str]:
    found = {}
    for target in (QueryTarget("all"), QueryTarget("id", "sub_x"), QueryTarget("phoneNumber", "+49"),
                   QueryTarget("username", "u")):
        text, _ = disclosure_query(target, list(wire.DISCLOSABLE_FIELDS))
        found[f"Disclose({target.kind})"] = text
    return found


OPERATIONS = operations.static_operations() | _disclosure_operations()


def test_the_client_has_all_its_operations() -> None:
    assert {"SUBMIT_REQUEST", "LIST_REQUESTS", "REVIEW_LIST_REQUESTS", "APPROVE_ORDER", "DRAFT_ORDER",
            "LIST_PRESERVATIONS", "VERIFY_EMERGENCY"} <= set(OPERATIONS)
    assert len(OPERATIONS) >= 20


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_validates_against_the_schema_file(name: str) -> None:
    assert validate(SCHEMA, parse(OPERATIONS[name])) == []


def test_the_check_fails_for_a_name_the_schema_does_not_have() -> None:
    assert validate(SCHEMA, parse("query { requests { id caseNumber } }")) != []


@pytest.mark.parametrize("enum", [wire.OffenseCategory, wire.LegalProcess, wire.RequestStatus,
                                  wire.PreservationStatus, wire.VerificationMethod], ids=lambda e: e.__name__)
def test_enum_has_the_schema_values_in_the_schema_order(enum: type[StrEnum]) -> None:
    declared = SCHEMA.get_type(enum.__name__)
    assert isinstance(declared, GraphQLEnumType)
    assert [member.value for member in enum] == list(declared.values)


def test_disclosable_fields_are_the_sealed_subject_fields_in_schema_order() -> None:
    subject = SCHEMA.get_type("Subject")
    assert isinstance(subject, GraphQLObjectType)
    sealed = [name for name, field in subject.fields.items() if str(field.type).strip("[]!") == "Sealed"]
    assert list(wire.DISCLOSABLE_FIELDS) == sealed
