"""The GraphQL endpoint's responses (gateway/api/http/json_response.py) are the bytes Starlette's own
JSONResponse would send, orjson or not."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import JSONResponse

from gateway.api.http.json_response import CompactJSONResponse

CONTENTS: list[Any] = [
    {"data": {"subject": {"ipAddresses": {"algorithm": "x25519-xsalsa20-poly1305", "ciphertext": "QUJD+/=="}}},
     "extensions": {"audit": {"index": 2**31, "leaf_hash": "aGk=", "decision": "disclosed"}}},
    {"errors": [{"message": "kein \"Auftrag\"\n\t\\ \u00e9\u2028\U0001f600 \x00\x1f\x7f",
                 "extensions": {"code": "X"}}]},
    {"data": None, "list": [1, -2, True, False, None, "", [], {}]},
    {"nested": {"b": 1, "a": 2}},  # key order kept, as the standard encoder keeps it
    {1: "an integer key"},  # orjson refuses: the standard encoder's answer
    {"big": 2**70},  # past 64 bits: likewise
]


@pytest.mark.parametrize("content", CONTENTS)
def test_the_body_is_starlettes(content: Any) -> None:
    assert CompactJSONResponse(content).body == JSONResponse(content).body


def test_what_neither_encodes_is_still_an_error() -> None:
    with pytest.raises(TypeError):
        CompactJSONResponse({"x": object()})
