"""The fast path of ``canonical_json`` is RFC 8785: equal to the full serialiser on every document."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crypto.canonical import canonical_json, parse_if_canonical
from crypto.errors import EncodingError

_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60) | st.floats() | st.text(
    alphabet=st.characters(codec="utf-8")) | st.text(alphabet="\x00\x01\x1f\"\\/\u2028\u007f\ue000\U0001f600ab")
documents = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=6) | st.sampled_from(["a", "b", "\U0001f600", "\ue000", "\x01"]), inner, max_size=5),
    max_leaves=20)


def _reference(document: Any) -> bytes | None:
    try:
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return None


@settings(max_examples=400, deadline=None)
@given(documents)
def test_canonical_json_equals_the_full_rfc8785_serialiser(document: Any) -> None:
    expected = _reference(document)
    if expected is None:
        with pytest.raises(EncodingError):
            canonical_json(document)
    else:
        assert canonical_json(document) == expected


def test_a_key_outside_the_basic_plane_sorts_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16, below U+E000; by code point it sorts above.
    document = {"\U0001f600": 1, "\ue000": 2}
    assert canonical_json(document) == rfc8785.dumps(document)
    assert canonical_json(document).index("\U0001f600".encode()) < canonical_json(document).index("\ue000".encode())


@pytest.mark.parametrize("depth", [31, 32, 33, 40])
def test_deeply_nested_documents_equal_the_full_serialiser(depth: int) -> None:
    document: Any = {"leaf": [1, "x", None, 2**53 - 1, 1.5]}
    for level in range(depth):
        document = [document] if level % 2 else {"k": document}
    assert canonical_json(document) == rfc8785.dumps(document)


@settings(max_examples=400, deadline=None)
@given(documents, st.sampled_from(["as is", "spaced", "escaped", "float", "big", "duplicate"]))
def test_parse_if_canonical_accepts_only_the_rfc8785_text(document: Any, edit: str) -> None:
    """Whatever it accepts is exactly the JCS form of what it returns; the JCS form of a plain
    ASCII object it accepts; an edited form it never accepts as is."""
    wrapped = {"d": document}
    expected = _reference(wrapped)
    assume(expected is not None)
    assert expected is not None
    text = expected.decode("utf-8")
    text = {"as is": text, "spaced": text.replace(":", ": ", 1), "escaped": text.replace("d", "\\u0064", 1),
            "float": text[:-1] + ',"zf":1.0}', "big": text[:-1] + f',"zi":{2**53}}}',
            "duplicate": text[:-1] + ',"d":null}'}[edit]
    parsed = parse_if_canonical(text)
    if parsed is not None:
        assert canonical_json(parsed) == text.encode("utf-8")
        assert edit == "as is"
    elif edit == "as is" and text.isascii():
        assert not _plain_ascii(wrapped)  # a plain ASCII document's own JCS text is always accepted


def _plain_ascii(value: Any) -> bool:
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)
                                    and abs(value) > 2**53 - 1):
        return False
    if isinstance(value, dict):
        return all(_plain_ascii(v) for v in value.values())
    if isinstance(value, list):
        return all(_plain_ascii(v) for v in value)
    return True


@pytest.mark.parametrize("text", ['{"a":[1.5]}', '{"a":[0,1e5]}', '{"a":[1,-0.0]}', '{"a":[9007199254740992]}',
                                  '{"a":-9007199254740992}', '{"a":{"b":[[2E3]]}}', '{"a":1.0}'])
def test_a_float_or_unsafe_integer_anywhere_is_not_taken_as_canonical(text: str) -> None:
    # orjson reads these without complaint and writes them back unchanged: the check before it must see them.
    assert parse_if_canonical(text) is None


@pytest.mark.parametrize("text", ['{"a":9007199254740991}', '{"a":[-9007199254740991,0]}', '{"t":"12:00:00.5"}',
                                  '{"s":"x\\":1.5"}', '{"s":"[1.5,2e3]"}'])
def test_plain_documents_that_look_like_floats_are_still_taken(text: str) -> None:
    parsed = parse_if_canonical(text)
    assert parsed is not None
    assert canonical_json(parsed) == text.encode()
