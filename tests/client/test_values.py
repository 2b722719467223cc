"""The client reads times and phone numbers exactly as the gateway does, and says so in its words:
client/values.py is a copy (the client may not import the gateway), held here to the original."""

from __future__ import annotations

import pytest

from client.cli.options import fields_option
from client.errors import UsageError
from client.values import PHONE_MESSAGE, TIME_MESSAGE, check_phone, check_time
from gateway.errors import BadRequest, SubjectLineError
from gateway.orders.header import check_fields
from gateway.subjects.normalise import normalise_phone
from gateway.subjects.parsing import parse_subject_line
from gateway.values.times import parse_time
from gateway.values.window import TimeWindow

TIMES = ["2026-09-01T00:00:00Z", "2026-09-01t00:00:00z", "2026-09-01T00:00:00.123456789+02:00",
         "2026-09-01T00:00:00-23:59", "2026-09-01T00:00:00+24:00", "2026-09-01T00:00:00", "2026-09-01",
         "2026-02-30T00:00:00Z", "2026-09-01 00:00:00Z", "yesterday", "", "2026-09-01T25:00:00Z",
         "２０２６-09-01T00:00:00Z", "2026-09-01T00:00:60Z", "0001-01-01T00:00:00+01:00"]
PHONES = ["+4915123456789", "+49 151 2345 6789", "+1 (650) 253-0000", "+1 650.253.0000", "004915123456789",
          "4915123456789", "+1 800 FLOWERS", "+4915123456789;ext=12", "tel:+4915123456789", "+49", "",
          " +4915123456789 ", "+999 123456"]


def _gateway_reads_time(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def _client_reads(check: object, text: str) -> bool:
    try:
        check(text, "--x")  # type: ignore[operator]
    except ValueError:
        return False
    return True


def _gateway_reads_phone(text: str) -> bool:
    try:
        normalise_phone(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", TIMES)
def test_the_client_reads_a_time_as_the_gateway_does(text: str) -> None:
    assert _client_reads(check_time, text) == _gateway_reads_time(text)


@pytest.mark.parametrize("text", PHONES)
def test_the_client_reads_a_phone_number_as_the_gateway_does(text: str) -> None:
    assert _client_reads(check_phone, text) == _gateway_reads_phone(text)


def test_both_sides_accept_and_refuse_some_of_the_cases() -> None:
    # Otherwise the two tests above could pass with parsers that refuse everything.
    assert {_gateway_reads_time(t) for t in TIMES} == {True, False}
    assert {_gateway_reads_phone(p) for p in PHONES} == {True, False}


def test_the_time_message_is_the_gateways() -> None:
    with pytest.raises(BadRequest) as refused:
        TimeWindow.parse("2026-09-01", "2026-10-01T00:00:00Z", what="dataWindow")
    assert refused.value.message == f"dataWindow: {TIME_MESSAGE}"
    with pytest.raises(ValueError, match=r"^--from: ") as local:
        check_time("2026-09-01", "--from")
    assert str(local.value) == f"--from: {TIME_MESSAGE}"


def test_the_phone_message_is_the_gateways() -> None:
    with pytest.raises(ValueError, match="phone") as normalised:
        normalise_phone("+1 800 FLOWERS")
    assert str(normalised.value) == PHONE_MESSAGE
    with pytest.raises(SubjectLineError) as imported:
        parse_subject_line('{"id": "s", "username": "u", "phone": "+1 800 FLOWERS", "created_at": '
                           '"2026-01-01T00:00:00Z", "ip_events": [], "devices": [], "username_history": []}')
    gateway_words = imported.value.reason.removeprefix("field 'phone' is ")
    with pytest.raises(ValueError, match="phone") as local:
        check_phone("+1 800 FLOWERS")
    assert str(local.value) == f"--phone: {gateway_words}"


def test_the_field_messages_are_the_gateways() -> None:
    with pytest.raises(BadRequest) as none_given:
        check_fields([])
    with pytest.raises(UsageError) as locally:
        fields_option([","], required=True)
    assert locally.value.message == f"--fields: {none_given.value.message}"
    with pytest.raises(BadRequest) as unknown:
        check_fields(["email"])
    with pytest.raises(UsageError) as typo:
        fields_option(["email"])
    # The gateway counts the unknown names without echoing them; the client also names the typo.
    count, _, names = unknown.value.message.partition(" unknown field name(s); ")
    assert typo.value.message == f"--fields: {count} unknown field name ('email'); {names}"
