from __future__ import annotations

import copy
import json
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from crypto.canonical import canonical_json
from gateway.errors import StoreIntegrityError, SubjectLineError, UnknownSubjectField
from gateway.subjects.normalise import normalise_ip, normalise_phone
from gateway.subjects.parsing import parse_subject, parse_subject_line
from gateway.subjects.record import SubjectRecord, encode_document
from gateway.subjects.synthetic import generate_subjects
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.times import format_time, parse_time

Subject = dict[str, Any]


@pytest.fixture
def make_subject() -> Callable[..., Subject]:
    """Factory: a valid import-shaped subject; keyword arguments replace top-level keys."""

    def factory(**overrides: Any) -> Subject:
        subject: Subject = {
            "id": "sub_0123456789ab",
            "username": "Quiet_Otter42",
            "phone": "+49 1512 3456789",
            "created_at": "2024-05-01T12:00:00Z",
            "ip_events": [
                {"ip": "192.0.2.17", "port": 51515, "first_seen": "2026-03-01T10:00:00Z",
                 "last_seen": "2026-03-01T11:00:00Z"},
                {"ip": "2001:db8::7", "first_seen": "2026-04-01T10:00:00Z", "last_seen": "2026-04-02T10:00:00Z"},
            ],
            "devices": [
                {"model": "Pixel 8", "platform": "Android 15", "app": "Messenger for Android",
                 "app_version": "6.12.3", "first_seen": "2026-01-05T08:00:00Z", "last_seen": "2026-06-01T08:00:00Z"},
            ],
            "username_history": [
                {"username": "old_name_7", "from": "2024-05-01T12:00:00Z", "until": "2026-02-01T00:00:00Z"},
                {"username": "Quiet_Otter42", "from": "2026-02-01T00:00:00Z"},
            ],
        }
        subject.update(overrides)
        return subject

    return factory


def line_of(subject: Subject) -> str:
    return json.dumps(subject) + "\n"


def at(text: str) -> datetime:
    return parse_time(text)


# -- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+4915123456789", "+4915123456789"),
        ("+49 1512 3456789", "+4915123456789"),
        ("+49-1512-345-6789", "+4915123456789"),
        ("  +49 (1512) 3456789 ", "+4915123456789"),
        ("+1 201-555-0123", "+12015550123"),
        ("+1 (201) 555.0123", "+12015550123"),
        ("+44 7400 123456", "+447400123456"),
        ("+33 6 12 34 56 78", "+33612345678"),
    ],
)
def test_phone_numbers_in_national_formats_with_plus_normalise_to_e164(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    ["015123456789", "0049 1512 3456789", "+49 123", "+1 800 FLOWERS", "+4915123456789;ext=12",
     "tel:+4915123456789", "+49 1512 3456789 x12", "", "+"],
)
def test_phone_numbers_without_country_code_or_invalid_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^not a valid phone number$"):
        normalise_phone(raw)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
        ("198.51.100.7", "198.51.100.7"),
    ],
)
def test_ip_addresses_are_stored_in_compressed_canonical_form(raw: str, canonical: str) -> None:
    assert normalise_ip(raw) == canonical


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
        ("2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00Z"),
        ("2026-03-01T23:30:00-01:30", "2026-03-02T01:00:00Z"),
        ("2026-03-01t10:00:00z", "2026-03-01T10:00:00Z"),
        ("2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00.500000Z"),
        ("2026-03-01T10:00:00.123456789Z", "2026-03-01T10:00:00.123456Z"),
        ("2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00Z"),
    ],
)
def test_times_are_converted_to_utc_and_written_with_z(text: str, utc: str) -> None:
    assert format_time(parse_time(text)) == utc


def test_format_time_writes_microseconds_only_when_not_zero() -> None:
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 70, tzinfo=UTC)) == "2026-01-02T03:04:05.000070Z"


@pytest.mark.parametrize(
    "text",
    ["2026-03-01T10:00:00", "2026-03-01 10:00:00Z", "2026-03-01", "20260301T100000Z", "2026-03-01T10:00Z",
     "2026-02-30T10:00:00Z", "2026-03-01T24:00:00Z", "2026-03-01T10:00:60Z", "2026-03-01T10:00:00+24:00",
     "2026-03-01T10:00:00+0200", "2026-W09-1T10:00:00Z", "next tuesday", "２０２６-03-01T10:00:00Z",
     "２０２６-03-01T10:00:00+02:00", "2026-03-01T10:00:00.٥Z", ""],
)
def test_naive_and_non_rfc3339_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not an RFC 3339 time with Z or an offset$"):
        parse_time(text)


def test_a_valid_line_is_parsed_and_normalised(make_subject: Callable[..., Subject]) -> None:
    record = parse_subject_line(line_of(make_subject()), 1)
    assert record.id == "sub_0123456789ab"
    assert record.username == "Quiet_Otter42"
    assert record.phone == "+4915123456789"
    assert record.ip_events[1].ip == "2001:db8::7"
    assert record.ip_events[1].port is None
    assert record.ip_events[0].port == 51515
    assert record.username_history[1].until is None
    assert record.created_at == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_empty_lists_are_allowed(make_subject: Callable[..., Subject]) -> None:
    record = parse_subject_line(line_of(make_subject(ip_events=[], devices=[], username_history=[])))
    assert record.ip_events == ()
    assert record.devices == ()
    assert record.username_history == ()


# -- bad lines ----------------------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Subject], None]:
    def change(subject: Subject) -> None:
        target: Any = subject
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(path: tuple[Any, ...]) -> Callable[[Subject], None]:
    def change(subject: Subject) -> None:
        target: Any = subject
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


BAD_FIELDS = [
    # (change, message pattern, the offending value that must not be echoed)
    (_set(("phone",), "+49 1512 34"), r"field 'phone' is not a valid phone number", "1512 34"),
    (_set(("phone",), "01512 3456789"), r"field 'phone' is not a valid phone number", "01512 3456789"),
    (_set(("phone",), 4915123456789), r"field 'phone' must be a string", "4915123456789"),
    (_set(("ip_events", 1, "ip"), "10.0.0.999"), r"field 'ip_events\[1\]\.ip' is not a valid IP address",
     "10.0.0.999"),
    (_set(("ip_events", 0, "ip"), "fe80::1%eth0"), r"field 'ip_events\[0\]\.ip' is not a valid IP address",
     "fe80::1"),
    (_set(("ip_events", 0, "port"), 70000), r"field 'ip_events\[0\]\.port' must be an integer from 1 to 65535",
     "70000"),
    (_set(("ip_events", 0, "port"), 0), r"field 'ip_events\[0\]\.port' must be an integer from 1 to 65535", None),
    (_set(("ip_events", 0, "port"), True), r"field 'ip_events\[0\]\.port' must be an integer", None),
    (_set(("ip_events", 0, "port"), "443"), r"field 'ip_events\[0\]\.port' must be an integer", None),
    (_set(("ip_events", 0, "first_seen"), "2026-03-01T10:00:00"),
     r"field 'ip_events\[0\]\.first_seen' is not an RFC 3339 time with Z or an offset", "2026-03-01T10:00:00"),
    (_set(("created_at",), "yesterday at noon"), r"field 'created_at' is not an RFC 3339 time",
     "yesterday at noon"),
    (_set(("ip_events", 0, "last_seen"), "2026-03-01T09:59:59Z"),
     r"field 'ip_events\[0\]': first_seen is after last_seen", "09:59:59"),
    (_set(("devices", 0, "first_seen"), "2026-07-01T00:00:00Z"),
     r"field 'devices\[0\]': first_seen is after last_seen", "2026-07-01"),
    (_set(("username_history", 0, "until"), "2020-01-01T00:00:00Z"),
     r"field 'username_history\[0\]': from is after until", "2020-01-01"),
    (_set(("id",), "sub 0123"), r"field 'id' must be 1–64 characters of A–Z, a–z, 0–9, _ and -", "sub 0123"),
    (_set(("id",), "x" * 65), r"field 'id' must be 1–64 characters", "x" * 65),
    (_set(("id",), ""), r"field 'id' must be 1–64 characters", None),
    (_set(("username",), "quiet.otter@example"), r"field 'username' must be 1–64 characters of A–Z",
     "quiet.otter"),
    (_set(("username_history", 1, "username"), "ÖtterÖ"),
     r"field 'username_history\[1\]\.username' must be 1–64 characters", "ÖtterÖ"),
    (_set(("devices", 0, "model"), "Pixel\n8"), r"field 'devices\[0\]\.model' must be 1–200 characters",
     "Pixel\n8"),
    (_set(("devices", 0, "app"), ""), r"field 'devices\[0\]\.app' must be 1–200 characters", None),
    (_set(("ip_events",), {"ip": "192.0.2.1"}), r"field 'ip_events' must be a list", "192.0.2.1"),
    (_set(("devices", 0), "Pixel 8"), r"field 'devices\[0\]' must be an object", "Pixel 8"),
    (_set(("nickname",), "otter"), r"the line has a key that is not allowed \(allowed: created_at, devices,",
     "nickname"),
    (_set(("+4915123456789",), True), r"the line has a key that is not allowed", "4915123456789"),
    (_set(("ip_events", 0, "asn"), 64496), r"field 'ip_events\[0\]' has a key that is not allowed", "asn"),
    (_drop(("phone",)), r"missing field 'phone'", None),
    (_drop(("ip_events", 0, "last_seen")), r"missing field 'ip_events\[0\]\.last_seen'", None),
    (_drop(("username_history",)), r"missing field 'username_history'", None),
    (_drop(("devices", 0, "app_version")), r"missing field 'devices\[0\]\.app_version'", None),
]


@pytest.mark.parametrize(("change", "message", "secret"), BAD_FIELDS)
def test_bad_field_names_the_field_and_line_but_not_the_value(
    make_subject: Callable[..., Subject], change: Callable[[Subject], None], message: str, secret: str | None
) -> None:
    subject = make_subject()
    change(subject)
    with pytest.raises(SubjectLineError, match=f"^line 42: {message}") as caught:
        parse_subject_line(line_of(subject), 42)
    assert caught.value.line_number == 42
    # Nothing of the value anywhere: not in the message, not in a chained library exception.
    everything = "".join(traceback.format_exception(caught.value))
    for text in filter(None, [secret, "Quiet_Otter42", "3456789", "192.0.2.17"]):
        assert text not in everything
        assert json.dumps(text)[1:-1] not in everything


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "sub_1", ', "line is not valid JSON"),
        ("[1, 2, 3]", "line must be a JSON object"),
        ('{"id": "a", "id": "b"}', "line has a duplicate key"),
        ('{"id": NaN}', "line holds NaN, which JSON does not allow"),
        ("", "line is empty"),
        ("   \n", "line is empty"),
        ('{"id": "sub_\udcff"}', "line is not valid UTF-8"),
    ],
)
def test_malformed_json_lines_are_refused_with_their_number(line: str, message: str) -> None:
    with pytest.raises(SubjectLineError, match=f"^line 7: {message}$"):
        parse_subject_line(line, 7)


def test_json_error_does_not_quote_the_line() -> None:
    line = '{"phone": "+4915123456789", oops}'
    with pytest.raises(SubjectLineError) as caught:
        parse_subject_line(line, 3)
    assert "4915123456789" not in "".join(traceback.format_exception(caught.value))


def test_overlong_line_is_refused() -> None:
    with pytest.raises(SubjectLineError, match=r"^line 1: line is longer than"):
        parse_subject_line(" " * (4 * 1024 * 1024 + 1), 1)


def test_parse_subject_accepts_already_parsed_json(make_subject: Callable[..., Subject]) -> None:
    assert parse_subject(make_subject(), 1) == parse_subject_line(line_of(make_subject()), 1)


# -- field values and the data window -----------------------------------------------------------


@pytest.fixture
def windowed(make_subject: Callable[..., Subject]) -> SubjectRecord:
    """A subject whose events sit around the window [2026-03-01, 2026-04-01)."""
    events = [
        ("192.0.2.1", "2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z"),  # inside
        ("192.0.2.2", "2026-02-20T00:00:00Z", "2026-03-02T00:00:00Z"),  # straddles the start
        ("192.0.2.3", "2026-03-31T00:00:00Z", "2026-04-05T00:00:00Z"),  # straddles the end
        ("192.0.2.4", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),  # before
        ("192.0.2.5", "2026-04-02T00:00:00Z", "2026-04-03T00:00:00Z"),  # after
        ("192.0.2.6", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),  # ends exactly at from: in
        ("192.0.2.7", "2026-04-01T00:00:00Z", "2026-04-09T00:00:00Z"),  # starts exactly at until: out
        ("192.0.2.8", "2026-01-01T00:00:00Z", "2026-12-01T00:00:00Z"),  # covers the whole window
    ]
    history = [
        {"username": "first_name", "from": "2025-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"},  # before
        {"username": "second_name", "from": "2026-02-01T00:00:00Z", "until": "2026-03-15T00:00:00Z"},  # in
        {"username": "Quiet_Otter42", "from": "2026-03-15T00:00:00Z"},  # open-ended: in
    ]
    devices = [
        {"model": "Pixel 8", "platform": "Android 15", "app": "Messenger for Android", "app_version": "6.1",
         "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-02-28T23:59:59Z"},  # before
        {"model": "iPhone 15", "platform": "iOS 18.1", "app": "Messenger for iOS", "app_version": "6.2",
         "first_seen": "2026-03-31T23:59:59Z", "last_seen": "2026-05-01T00:00:00Z"},  # straddles the end
    ]
    subject = make_subject(
        ip_events=[{"ip": ip, "first_seen": first, "last_seen": last} for ip, first, last in events],
        devices=devices, username_history=history,
    )
    return parse_subject(subject)


WINDOW = (at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z"))


def test_ip_addresses_keep_only_events_overlapping_the_window(windowed: SubjectRecord) -> None:
    value = windowed.field_value("ipAddresses", WINDOW)
    assert isinstance(value, list)
    assert [event["ip"] for event in value] == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.6", "192.0.2.8"]


def test_devices_keep_only_those_seen_in_the_window(windowed: SubjectRecord) -> None:
    assert windowed.field_value("devices", WINDOW) == [
        {"model": "iPhone 15", "platform": "iOS 18.1", "app": "Messenger for iOS", "app_version": "6.2",
         "first_seen": "2026-03-31T23:59:59Z", "last_seen": "2026-05-01T00:00:00Z"},
    ]


def test_open_ended_username_record_overlaps_any_later_window(windowed: SubjectRecord) -> None:
    assert windowed.field_value("usernameHistory", WINDOW) == [
        {"username": "second_name", "from": "2026-02-01T00:00:00Z", "until": "2026-03-15T00:00:00Z"},
        {"username": "Quiet_Otter42", "from": "2026-03-15T00:00:00Z"},
    ]
    far_future = (at("2030-01-01T00:00:00Z"), at("2031-01-01T00:00:00Z"))
    assert windowed.field_value("usernameHistory", far_future) == [
        {"username": "Quiet_Otter42", "from": "2026-03-15T00:00:00Z"},
    ]


def test_open_ended_username_record_does_not_overlap_a_window_before_it(windowed: SubjectRecord) -> None:
    before = (at("2026-03-14T00:00:00Z"), at("2026-03-15T00:00:00Z"))
    assert windowed.field_value("usernameHistory", before) == [
        {"username": "second_name", "from": "2026-02-01T00:00:00Z", "until": "2026-03-15T00:00:00Z"},
    ]


def test_ip_event_values_have_the_protocol_shape(make_subject: Callable[..., Subject]) -> None:
    record = parse_subject(make_subject())
    assert record.field_value("ipAddresses", None) == [
        {"ip": "192.0.2.17", "port": 51515, "first_seen": "2026-03-01T10:00:00Z", "last_seen": "2026-03-01T11:00:00Z"},
        {"ip": "2001:db8::7", "first_seen": "2026-04-01T10:00:00Z", "last_seen": "2026-04-02T10:00:00Z"},
    ]


def test_phone_number_value_is_e164_whatever_the_window(windowed: SubjectRecord) -> None:
    assert windowed.field_value("phoneNumber", WINDOW) == "+4915123456789"
    assert windowed.field_value("phoneNumber", None) == "+4915123456789"


def test_no_window_keeps_every_event(windowed: SubjectRecord) -> None:
    assert len(windowed.field_value("ipAddresses", None)) == 8


def test_every_subject_field_has_a_value(windowed: SubjectRecord) -> None:
    for field in SUBJECT_FIELDS:
        windowed.field_value(field, WINDOW)


def test_unknown_field_is_refused(windowed: SubjectRecord) -> None:
    with pytest.raises(UnknownSubjectField, match=r"^unknown subject field; expected one of phoneNumber,"):
        windowed.field_value("email", WINDOW)


def test_naive_window_is_refused(windowed: SubjectRecord) -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        windowed.field_value("ipAddresses", (datetime(2026, 3, 1), datetime(2026, 4, 1)))


# -- the sealed document ------------------------------------------------------------------------


def test_sealed_document_encoding_is_rfc8785_canonical_json(make_subject: Callable[..., Subject]) -> None:
    subjects = [*generate_subjects(50, seed=3), make_subject(devices=[
        {"model": "Galaxy S24 Ultra™ «Ω»", "platform": "Android 14 — 日本", "app": "Messenger 😀",
         "app_version": "6.1/β", "first_seen": "2026-01-01T00:00:00.25Z", "last_seen": "2026-01-02T00:00:00Z"}])]
    for subject in subjects:
        document = parse_subject(subject).to_document()
        assert encode_document(document) == canonical_json(document)


def test_document_round_trips_to_the_same_record(make_subject: Callable[..., Subject]) -> None:
    record = parse_subject(make_subject())
    document = json.loads(encode_document(record.to_document()))
    assert SubjectRecord.from_document(record.id, document) == record


def test_document_of_another_shape_is_an_integrity_error(make_subject: Callable[..., Subject]) -> None:
    document = parse_subject(make_subject()).to_document()
    broken = copy.deepcopy(document)
    del broken["ip_events"]
    with pytest.raises(StoreIntegrityError, match=r"^stored subject data failed its integrity check$"):
        SubjectRecord.from_document("sub_0123456789ab", broken)
    with pytest.raises(StoreIntegrityError):
        SubjectRecord.from_document("sub_0123456789ab", {**document, "v": 2})
