"""RFC 8785 (JCS) canonical JSON: the only form in which documents are signed or hashed."""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from crypto.errors import EncodingError

__all__ = ["canonical_json", "parse_json_object"]


def canonical_json(document: Any) -> bytes:
    """The JCS bytes of ``document``; raise :class:`EncodingError` if it is not representable."""
    try:
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EncodingError("document cannot be canonicalised as RFC 8785 JSON") from exc


def parse_json_object(data: bytes | str, *, what: str = "document") -> dict[str, Any]:
    """Parse a JSON object strictly: duplicate keys, NaN and non-objects are refused."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise EncodingError(f"{what} has a duplicate key")
            result[key] = value
        return result

    def no_constants(name: str) -> Any:
        raise EncodingError(f"{what} holds {name}, which JSON does not allow")

    try:
        # Decode bytes as strict UTF-8 ourselves: json.loads would also take UTF-16/32 and a BOM.
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise EncodingError(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise EncodingError(f"{what} must be a JSON object")
    return value
