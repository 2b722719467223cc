"""The bytes sealed for a subject's head and each event row: orjson writes exactly what
json.dumps(sort_keys, compact, raw UTF-8) wrote, and what orjson would write otherwise is json's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.subjects.events import encode_value
from gateway.subjects.record import encode_document


def by_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_every_character_is_written_as_json_writes_it() -> None:
    # Every code point but the surrogates, several a string so that the test stays quick.
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(points), 64):
        text = "".join(chr(c) for c in points[start:start + 64])
        value = {"model": text, text: 1}
        assert encode_value(value) == by_json(value)


@pytest.mark.parametrize("value", [
    {"ip": "192.0.2.1", "port": 443, "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00.5Z"},
    {"username": "Quiet_Otter42", "from": "2024-01-01T00:00:00Z"},
    {"v": 2, "username": "u", "phone": "+4915123456789", "created_at": "2024-01-01T00:00:00Z"},
    {"b": [1, {"z": True, "a": None}], "a": [], "A": {}, "_": -(2**63), "é": 2**64 - 1, "": 'q"\\/'},
    {"model": "Galaxy S24 Ultra™ «Ω»", "platform": "Android 14 — 日本", "app": "Messenger 😀", "app_version": "6.1/β"},
])
def test_values_are_the_same_bytes(value: dict[str, Any]) -> None:
    assert encode_document(value) == by_json(value)


@pytest.mark.parametrize("value", [{"n": 2**64}, {"n": -(2**63) - 1}, {"n": 10**30}])
def test_what_orjson_cannot_write_is_written_by_json(value: dict[str, Any]) -> None:
    assert encode_document(value) == by_json(value)


class Text(str):
    __slots__ = ()


@pytest.mark.parametrize("value", [{"at": datetime(2026, 1, 1, tzinfo=UTC)}, {"s": "\ud800"}])
def test_what_json_refuses_is_still_refused(value: dict[str, Any]) -> None:
    with pytest.raises((TypeError, UnicodeEncodeError)):
        by_json(value)
    with pytest.raises((TypeError, UnicodeEncodeError)):
        encode_document(value)


def test_a_str_subclass_is_written_as_json_writes_it() -> None:
    value = {Text("k"): Text("v")}
    assert encode_document(value) == by_json(value)
