"""Ingestion reads a line with orjson when that is certainly what the strict parser reads: every
line, valid or not, must be read, or refused with the message, exactly as parse_json_object does."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import parse_json_object
from crypto.errors import EncodingError
from gateway.errors import SubjectLineError
from gateway.subjects.parsing import _json_line, _plain_object


def strict(line: str) -> tuple[str, str]:
    """What the strict parser makes of ``line``: its value's repr (types and key order show), or its refusal."""
    try:
        return "value", repr(parse_json_object(line, what="line"))
    except EncodingError as exc:
        return "refused", exc.message


def ingested(line: str) -> tuple[str, str]:
    try:
        return "value", repr(_json_line(line, 1))
    except SubjectLineError as exc:
        return "refused", exc.reason


TRICKY = [
    '{"a":1,"a":2}',
    '{"a":1, "a" :2}',
    '{"a":" :","a":1}',  # a value opening with whitespace and a colon, beside a duplicate
    '{" :":1," :":2}',
    '{"a":{"b":1,"b":2}}',
    '{"a":[{"b":1},{"b":2,"b":3}]}',
    '{"a":"x","b":{"a":"x"}}',  # the same key in two objects is no duplicate
    '{"":1,"":2}',
    '{"a\\u0062":1,"ab":2}',  # a duplicate written with an escape
    '{"a":"\\ud800"}',
    '{"a":"\\"b\\":1"}',
    '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}',
    '{"a":99999999999999999999999}', '{"a":18446744073709551616}', '{"a":-9223372036854775809}',
    '{"a":18446744073709551615}', '{"a":-9223372036854775808}',
    '{"a":1e400}', '{"a":1.0}', '{"a":1E2}', '{"a":-0}', '{"a":-0.0}',
    '{"a":01}', '{"a":"x\ty"}', '{"a":"\x7f\u2028é"}', '{"a":true,"b":null,"c":false}',
    ' {"a":1} \n', '{"a":1}\r\n', '{"a":1}x', '{"a":1}\x0b', '{"a":1}\u00a0', '\ufeff{"a":1}',
    '[1]', '"a"', '1', 'null', '{', '{"a":', '{"a" 1}', "{'a':1}",
    "[" * 2000 + "]" * 2000, '{"a":' * 1100 + "1" + "}" * 1100,
]


@pytest.mark.parametrize("line", TRICKY)
def test_a_tricky_line_is_read_as_the_strict_parser_reads_it(line: str) -> None:
    assert ingested(line) == strict(line)


@pytest.mark.parametrize("line", ['{"a":1,"a":2}', '{"a":1, "a" :2}', '{"a":" :","a":1}', '{"a":1e5}',
                                  '{"a":99999999999999999999999}', '{"a":"\\u0041"}'])
def test_duplicates_floats_and_escapes_are_left_to_the_strict_parser(line: str) -> None:
    assert _plain_object(line) is None


def test_a_plain_line_takes_the_fast_path() -> None:
    line = '{"subject":"s_1","kind":"ip","ip":"192.0.2.1","port":443,"seen":"2026-01-01T00:00:00Z"}\n'
    assert _plain_object(line) == json.loads(line)


KEYS = st.sampled_from(["a", "b", "", " :", ":", 'q"', "\\", "é", "a b"]) | st.text(max_size=3)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_infinity=False, allow_nan=False) | st.sampled_from([" :x", ":", "\t:", '"', "\\"])
           | st.text(max_size=6))
VALUES = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                      | st.lists(st.tuples(KEYS, children), max_size=4).map(lambda pairs: ("object", pairs)),
                      max_leaves=12)


def render(value: Any, rng: random.Random) -> str:
    """JSON text of ``value`` (an ("object", pairs) tuple is an object, duplicates kept), with random
    whitespace, escaping and number forms."""
    def space() -> str:
        return rng.choice(["", "", "", " ", "\n", "\t", "  "])

    if isinstance(value, tuple):
        members = [f"{space()}{json.dumps(k, ensure_ascii=rng.random() < 0.2)}{space()}:{render(v, rng)}"
                   for k, v in value[1]]
        return "{" + ",".join(members) + space() + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v, rng) for v in value) + space() + "]"
    if isinstance(value, float) and rng.random() < 0.3:
        return space() + f"{value:e}"
    return space() + json.dumps(value, ensure_ascii=rng.random() < 0.2)


@settings(max_examples=400, deadline=None)
@given(pairs=st.lists(st.tuples(KEYS, VALUES), max_size=5), seed=st.integers(0, 2**32), tail=st.sampled_from(
    ["", "\n", "\r\n", " ", "x", ","]))
def test_any_line_is_read_as_the_strict_parser_reads_it(pairs: list[tuple[str, Any]], seed: int, tail: str) -> None:
    line = render(("object", pairs), random.Random(seed)) + tail
    if not line.strip():
        return
    assert ingested(line) == strict(line)
