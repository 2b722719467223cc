"""Every refusal class carries a docs/PROTOCOL.md §6 code and the HTTP status §6 gives it."""

from __future__ import annotations

import pytest

from crypto import errors as crypto_errors
from gateway import errors
from gateway.errors import PROTOCOL_CODES, AuthenticationError, GatewayError, OperatorError, from_crypto


def subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(subclasses(sub))
    return found


@pytest.mark.parametrize("cls", [c for c in subclasses(GatewayError) if c.__module__ == errors.__name__],
                         ids=lambda c: c.__name__)
def test_each_error_class_has_a_protocol_code_and_its_status(cls: type[GatewayError]) -> None:
    if cls is AuthenticationError or issubclass(cls, OperatorError):
        return  # the 401 code is chosen per instance; operator errors never reach the wire
    assert cls.code in PROTOCOL_CODES, cls
    assert PROTOCOL_CODES[cls.code] == cls.status, cls


@pytest.mark.parametrize("code", [c for c, s in PROTOCOL_CODES.items() if s == 401])
def test_every_401_code_is_an_authentication_error(code: str) -> None:
    assert AuthenticationError(code, "m").status == 401
    with pytest.raises(ValueError, match="not a 401 code"):
        AuthenticationError("FORBIDDEN_ROLE", "m")


@pytest.mark.parametrize("cls", [c for c in subclasses(crypto_errors.CryptoError)], ids=lambda c: c.__name__)
def test_every_crypto_error_keeps_its_code_at_the_edge(cls: type[crypto_errors.CryptoError]) -> None:
    translated = from_crypto(cls("m"))
    assert translated.code == cls.code
    assert translated.status == PROTOCOL_CODES[cls.code]
