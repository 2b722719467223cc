from __future__ import annotations

import ipaddress

import phonenumbers
import pytest

from gateway.subjects.parsing import parse_subject
from gateway.subjects.synthetic import EVENTS_FROM, EVENTS_UNTIL, generate_subjects

DOCUMENTATION_NETS = [ipaddress.ip_network(n) for n in
                      ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]


def test_same_seed_gives_the_same_subjects() -> None:
    assert list(generate_subjects(20, seed=4)) == list(generate_subjects(20, seed=4))


def test_other_seed_gives_other_subjects() -> None:
    assert [s["id"] for s in generate_subjects(5, seed=4)] != [s["id"] for s in generate_subjects(5, seed=5)]


def test_generated_subjects_are_valid_import_lines_with_the_requested_event_count() -> None:
    for subject in generate_subjects(200, ip_events=7):
        record = parse_subject(subject)
        assert len(record.ip_events) == 7
        assert 1 <= len(record.devices) <= 3
        assert 1 <= len(record.username_history) <= 3
        assert record.username_history[-1].username == record.username
        assert record.username_history[-1].until is None


def test_ip_addresses_come_only_from_documentation_ranges() -> None:
    for subject in generate_subjects(200):
        for event in subject["ip_events"]:
            address = ipaddress.ip_address(event["ip"])
            assert any(address in net for net in DOCUMENTATION_NETS), "non-documentation address generated"


def test_phone_numbers_are_valid_and_from_several_countries() -> None:
    regions = set()
    for subject in generate_subjects(300):
        number = phonenumbers.parse(subject["phone"], None)
        assert phonenumbers.is_valid_number(number)
        regions.add(phonenumbers.region_code_for_number(number))
    assert len(regions) >= 8


def test_ids_phones_and_usernames_are_unique() -> None:
    subjects = list(generate_subjects(2000, ip_events=0))
    assert len({s["id"] for s in subjects}) == 2000
    assert len({parse_subject(s).phone for s in subjects}) == 2000
    assert len({s["username"].casefold() for s in subjects}) == 2000
    assert all(s["id"].startswith("sub_") and len(s["id"]) == 16 for s in subjects)


def test_events_fall_in_2026_up_to_november_20() -> None:
    for subject in generate_subjects(100):
        record = parse_subject(subject)
        spans = [(e.first_seen, e.last_seen) for e in record.ip_events]
        spans += [(d.first_seen, d.last_seen) for d in record.devices]
        for first_seen, last_seen in spans:
            assert EVENTS_FROM <= first_seen <= last_seen <= EVENTS_UNTIL


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        list(generate_subjects(-1))
