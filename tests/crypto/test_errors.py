"""Every crypto error carries a stable docs/PROTOCOL.md §6 code, so the gateway's edge never guesses."""

from __future__ import annotations

import inspect

import pytest

import crypto.errors
from crypto.errors import CryptoError

# docs/PROTOCOL.md §6, all statuses.
PROTOCOL_CODES = {
    "BAD_REQUEST", "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COMPLEX",
    "UNAUTHENTICATED", "TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_LIFETIME_TOO_LONG", "TOKEN_REPLAYED",
    "TOKEN_BODY_MISMATCH", "TOKEN_AUDIENCE_MISMATCH", "UNKNOWN_PRINCIPAL",
    "FORBIDDEN_ROLE", "ORDER_NOT_FOUND", "ORDER_NOT_ACTIVE", "ORDER_EXPIRED", "ORDER_REVOKED",
    "ORDER_EXHAUSTED",
    "FIELD_NOT_PERMITTED", "SUBJECT_NOT_PERMITTED",
    "METHOD_NOT_ALLOWED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "RATE_LIMITED",
    "AUDIT_UNAVAILABLE",
}

ERROR_CLASSES = sorted(
    (cls for _, cls in inspect.getmembers(crypto.errors, inspect.isclass)
     if issubclass(cls, BaseException) and cls.__module__ == crypto.errors.__name__),
    key=lambda cls: cls.__name__,
)


def test_the_error_module_defines_the_documented_tree() -> None:
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert names == set(crypto.errors.__all__)
    assert all(issubclass(cls, CryptoError) for cls in ERROR_CLASSES)


@pytest.mark.parametrize("error", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_has_a_protocol_code(error: type[CryptoError]) -> None:
    assert error.code in PROTOCOL_CODES
    instance = error("message")
    assert instance.code == error.code
    assert instance.message == str(instance) == "message"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("TokenError", "TOKEN_INVALID"),
        ("TokenExpiredError", "TOKEN_EXPIRED"),
        ("TokenLifetimeError", "TOKEN_LIFETIME_TOO_LONG"),
        ("TokenBodyMismatchError", "TOKEN_BODY_MISMATCH"),
        ("TokenAudienceError", "TOKEN_AUDIENCE_MISMATCH"),
        ("UnknownIssuerError", "UNKNOWN_PRINCIPAL"),
        ("SealedValueError", "BAD_REQUEST"),
    ],
)
def test_token_errors_map_to_their_own_codes(name: str, code: str) -> None:
    assert getattr(crypto.errors, name).code == code
