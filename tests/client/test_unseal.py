"""Opening a disclosure response on the authority's side: every value verified, or nothing shown."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from client.cli.query import open_result, query_subjects
from client.errors import UnsealError
from client.http import ClientResult, GatewayClient
from client.operations import QueryTarget, disclosure_query, send_query
from client.unseal import OpenedResponse, open_response, response_parts
from client.wire import DISCLOSABLE_FIELDS
from gateway.subjects.normalise import normalise_phone
from gateway.values.fields import SUBJECT_FIELDS
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import World

FIELDS = ["phoneNumber", "ipAddresses"]


@pytest.fixture
def served(world: World) -> tuple[World, str, ClientResult, OpenedResponse]:
    """An active order, and a served `--all` query for FIELDS, opened."""
    order_id = world.active_order()["id"]
    assert world.authority.sealing_key is not None
    client = GatewayClient("http://testserver", world.authority.id, world.authority.signing_key,
                           http_client=world.gateway.client)
    result, opened = query_subjects(client, order_id=order_id, selector=QueryTarget("all"), fields=FIELDS,
                                    sealing_key=world.authority.sealing_key)
    return world, order_id, result, opened


def reopen(world: World, document: dict[str, Any], **expect: Any) -> OpenedResponse:
    assert world.authority.sealing_key is not None
    data, request_id = response_parts(document)
    return open_response(data, request_id, sealing_key=world.authority.sealing_key,
                         gateway_key=world.gateway.services.keys.signing_key.verify_key, **expect)


def test_the_schema_and_the_client_agree_on_the_disclosable_fields() -> None:
    assert DISCLOSABLE_FIELDS == SUBJECT_FIELDS


def test_every_value_of_a_served_query_opens_to_the_imported_data(
        served: tuple[World, str, ClientResult, OpenedResponse]) -> None:
    world, order_id, result, opened = served
    assert result.audit is not None
    assert (opened.order_id, opened.request_id) == (order_id, result.audit.request_id)
    by_id = {s["id"]: s for s in world.subjects}
    assert len(opened.values) == 3 * len(FIELDS)
    for value in opened.values:
        assert value.record["subject_id"] == value.subject_id
        assert value.record["request_id"] == result.audit.request_id
        if value.field == "phoneNumber":
            assert value.value == normalise_phone(by_id[value.subject_id]["phone"])
    assert opened.as_json()["records"][0] == dict(opened.values[0].record)


def test_a_saved_response_reopens_without_the_gateway(served: tuple[World, str, ClientResult, OpenedResponse]) -> None:
    world, order_id, result, opened = served
    assert reopen(world, json.loads(result.raw), order_id=order_id) == opened


Tamper = Callable[[dict[str, Any]], None]


def flip_a_ciphertext_byte(document: dict[str, Any]) -> None:
    sealed = document["data"]["order"]["subjects"][0]["ipAddresses"]
    raw = bytearray(base64.b64decode(sealed["ciphertext"]))
    raw[len(raw) // 2] ^= 0x01
    sealed["ciphertext"] = base64.b64encode(bytes(raw)).decode()


def swap_two_fields(document: dict[str, Any]) -> None:
    subject = document["data"]["order"]["subjects"][0]
    subject["phoneNumber"], subject["ipAddresses"] = subject["ipAddresses"], subject["phoneNumber"]


def swap_two_subjects_values(document: dict[str, Any]) -> None:
    first, second = document["data"]["order"]["subjects"][:2]
    first["phoneNumber"], second["phoneNumber"] = second["phoneNumber"], first["phoneNumber"]


def claim_another_request(document: dict[str, Any]) -> None:
    document["extensions"]["audit"]["request_id"] = "req_000000000000000000000000"


def drop_a_value(document: dict[str, Any]) -> None:
    document["data"]["order"]["subjects"][0]["ipAddresses"] = None


@pytest.mark.parametrize("tamper", [flip_a_ciphertext_byte, swap_two_fields, swap_two_subjects_values,
                                    claim_another_request, drop_a_value])
def test_a_tampered_response_fails_as_a_whole_naming_the_value_and_no_plaintext(
        served: tuple[World, str, ClientResult, OpenedResponse], tamper: Tamper) -> None:
    world, order_id, result, _ = served
    document = json.loads(result.raw)
    tamper(document)
    first_subject = document["data"]["order"]["subjects"][0]["id"]
    with pytest.raises(UnsealError) as failed:
        reopen(world, document, order_id=order_id, fields=FIELDS)
    assert f"subject {first_subject} field " in failed.value.message
    assert leaks([failed.value.message], secrets_of(world.subjects)) == []


def test_values_for_another_order_than_expected_fail(served: tuple[World, str, ClientResult, OpenedResponse]) -> None:
    world, _, result, _ = served
    with pytest.raises(UnsealError, match="not ord_other"):
        reopen(world, json.loads(result.raw), order_id="ord_other")


def test_a_field_not_asked_for_fails(served: tuple[World, str, ClientResult, OpenedResponse]) -> None:
    world, order_id, result, _ = served
    with pytest.raises(UnsealError, match="'ipAddresses', which was not asked for"):
        reopen(world, json.loads(result.raw), order_id=order_id, fields=["phoneNumber"])


def test_a_subject_other_than_the_one_asked_for_fails(
        served: tuple[World, str, ClientResult, OpenedResponse]) -> None:
    world, order_id, result, _ = served
    document = json.loads(result.raw)
    subject = document["data"]["order"]["subjects"][0]
    with pytest.raises(UnsealError, match="not sub_someone_else"):
        open_response({"subject": subject}, document["extensions"]["audit"]["request_id"],
                      sealing_key=world.authority.sealing_key or PrivateKey.generate(),
                      gateway_key=world.gateway.services.keys.signing_key.verify_key,
                      order_id=order_id, subject_id="sub_someone_else")


@pytest.mark.parametrize("wrong", ["sealing key", "gateway key"])
def test_the_wrong_key_fails(served: tuple[World, str, ClientResult, OpenedResponse], wrong: str) -> None:
    world, order_id, result, _ = served
    assert world.authority.sealing_key is not None
    data, request_id = response_parts(json.loads(result.raw))
    sealing = PrivateKey.generate() if wrong == "sealing key" else world.authority.sealing_key
    gateway = SigningKey.generate().verify_key if wrong == "gateway key" else \
        world.gateway.services.keys.signing_key.verify_key
    with pytest.raises(UnsealError, match="failed verification"):
        open_response(data, request_id, sealing_key=sealing, gateway_key=gateway, order_id=order_id)


def test_a_refusal_or_a_response_without_audit_reference_is_not_opened(
        served: tuple[World, str, ClientResult, OpenedResponse]) -> None:
    _, _, result, _ = served
    document = json.loads(result.raw)
    with pytest.raises(UnsealError, match="is a refusal"):
        response_parts({"errors": [{"message": "x"}]})
    without = copy.deepcopy(document)
    del without["extensions"]
    with pytest.raises(UnsealError, match=r"no extensions\.audit\.request_id"):
        response_parts(without)


def test_open_result_checks_the_selected_subject_id(served: tuple[World, str, ClientResult, OpenedResponse]) -> None:
    world, order_id, _, _ = served
    assert world.authority.sealing_key is not None
    client = GatewayClient("http://testserver", world.authority.id, world.authority.signing_key,
                           http_client=world.gateway.client)
    subject_id = world.subjects[2]["id"]
    result = send_query(client, order_id=order_id, selector=QueryTarget("id", subject_id), fields=["phoneNumber"])
    opened = open_result(result, sealing_key=world.authority.sealing_key, gateway_key=client.gateway_key,
                         order_id=order_id, selector=QueryTarget("id", subject_id), fields=["phoneNumber"])
    assert [v.subject_id for v in opened.values] == [subject_id]
    with pytest.raises(UnsealError, match=f"about subject {subject_id}, not sub_x"):
        open_result(result, sealing_key=world.authority.sealing_key, gateway_key=client.gateway_key,
                    order_id=order_id, selector=QueryTarget("id", "sub_x"), fields=["phoneNumber"])


def test_selector_values_travel_in_variables_never_in_the_query_text() -> None:
    text, variables = disclosure_query(QueryTarget("phoneNumber", '+4915123456789") { x } #'), ["phoneNumber"])
    assert "+49" not in text
    assert variables == {"by": {"phoneNumber": '+4915123456789") { x } #'}}
    all_text, no_variables = disclosure_query(QueryTarget("all"), ["ipAddresses"])
    assert "subjects { id ipAddresses" in all_text
    assert no_variables is None
