"""RFC 8785 (JCS) canonical JSON: the only form in which documents are signed or hashed."""

from __future__ import annotations

import json
from typing import Any

import orjson
import rfc8785

from crypto.errors import EncodingError

__all__ = ["canonical_json", "parse_if_canonical", "parse_json_object"]


_SAFE_INTEGER = 2**53 - 1  # I-JSON (RFC 7493 §2.2): larger integers are not exact in an IEEE double


def _plain(value: Any) -> bool:
    """Whether RFC 8785 of ``value`` is exactly orjson's encoding with sorted keys (``json.dumps``'s
    too): objects with ASCII keys (where UTF-16 and code point order agree, RFC 8785 §3.2.3),
    strings, safe integers, booleans and null, nested at most 32 deep. JCS escapes strings as
    JSON.stringify does (§3.2.2.2): the two control escapes and the six-character form are the
    ones both write. Floats, big integers and anything else take the full serialiser.

    Iterative, with only containers on the stack: this check runs on every audit entry and sealed
    record written, and a recursive call per value cost more than the encoding it guards."""
    if type(value) is not dict and type(value) is not list:
        return _plain_scalar(value)
    stack: list[tuple[dict[Any, Any] | list[Any], int]] = [(value, 0)]
    while stack:
        container, depth = stack.pop()
        if depth >= 32:
            return False
        if type(container) is dict:
            try:
                if not "".join(container).isascii():  # at C speed; a key that is not a str raises
                    return False
            except TypeError:
                return False
            children: Any = container.values()
        else:
            children = container
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
            elif not _plain_scalar(child):
                return False
    return True


def _plain_scalar(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    return kind is int and -_SAFE_INTEGER <= value <= _SAFE_INTEGER


def canonical_json(document: Any) -> bytes:
    """The JCS bytes of ``document``; raise :class:`EncodingError` if it is not representable."""
    if _plain(document):
        # The documents the gateway signs and logs are all of this kind; orjson is some hundred
        # times faster than the general serialiser, and a test holds the two equal.
        try:
            return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate: the full serialiser decides
    try:
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EncodingError("document cannot be canonicalised as RFC 8785 JSON") from exc


def _refuse(_: str) -> Any:
    raise ValueError("not a plain document")


def _safe_int(literal: str) -> int:
    value = int(literal)
    if not -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
        raise ValueError("outside the safe integer range")
    return value


# Built once: json.loads with hooks builds a decoder per call, which costs more than the parse.
_PLAIN_DECODER = json.JSONDecoder(parse_float=_refuse, parse_int=_safe_int, parse_constant=_refuse)


def parse_if_canonical(text: str) -> dict[str, Any] | None:
    """The object ``text`` holds if ``text`` is exactly its RFC 8785 form and it is a plain
    document (ASCII text, no floats, safe integers); None otherwise, which says nothing: the
    caller decides with :func:`parse_json_object` and :func:`canonical_json`.

    For verifying a log of such documents: one C parse and one C encode per document. ASCII text
    whose keys are then ASCII, with every integer safe and no float, is a document whose JCS form
    is the sorted encoding of :func:`canonical_json`'s fast path (see :func:`_plain`); a duplicate
    key, an escape that JCS would not write or a non-canonical number makes the re-encoding differ.
    The standard parser, not orjson's: it refuses floats and unsafe integers as it reads, where
    orjson takes both without a word and finding them afterwards costs more than it saves."""
    if not text.isascii():
        return None
    try:
        document = _PLAIN_DECODER.decode(text)
        if type(document) is not dict:
            return None
        encoded = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except (ValueError, RecursionError, orjson.JSONEncodeError):  # also a lone surrogate, or too deep for orjson
        return None
    return document if encoded == text.encode("ascii") else None


class _DuplicateKey(Exception):
    pass


class _Constant(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise _Constant(name)


# Built once, as _PLAIN_DECODER: json.loads given hooks builds a decoder per call, more than half
# the cost of parsing a token's header. The hooks raise private errors; the caller names the document.
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def parse_json_object(data: bytes | str, *, what: str = "document") -> dict[str, Any]:
    """Parse a JSON object strictly: duplicate keys, NaN and non-objects are refused."""
    try:
        # Decode bytes as strict UTF-8 ourselves: json.loads would also take UTF-16/32 and a BOM.
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = _STRICT_DECODER.decode(text)
    except _DuplicateKey:
        raise EncodingError(f"{what} has a duplicate key") from None
    except _Constant as exc:
        raise EncodingError(f"{what} holds {exc.name}, which JSON does not allow") from None
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise EncodingError(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise EncodingError(f"{what} must be a JSON object")
    return value
