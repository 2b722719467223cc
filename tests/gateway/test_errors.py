"""Every error class the service can raise carries a docs/PROTOCOL.md §6 code and the status §6 gives it."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import gateway
from crypto import errors as crypto_errors
from gateway.errors import PROTOCOL_CODES, AuthenticationError, GatewayError, InternalError, OperatorError, from_crypto


def subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(subclasses(sub))
    return found


def every_gateway_error_class() -> list[type[GatewayError]]:
    """Every subclass of the tree that any gateway module defines, once all of them are imported."""
    for module in pkgutil.walk_packages(gateway.__path__, prefix="gateway."):
        if ".migrations." in module.name:
            continue  # alembic revision scripts import alembic's runtime context
        importlib.import_module(module.name)
    return [GatewayError, *subclasses(GatewayError)]


ERROR_CLASSES = every_gateway_error_class()


def test_the_tree_holds_the_classes_that_live_outside_errors_py_too() -> None:
    assert InternalError in ERROR_CLASSES
    assert OperatorError in ERROR_CLASSES
    assert any(c.__module__ != "gateway.errors" for c in ERROR_CLASSES), "domain errors must join the tree"


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_each_error_class_has_a_protocol_code_and_its_status(cls: type[GatewayError]) -> None:
    assert cls.code in PROTOCOL_CODES, cls
    assert PROTOCOL_CODES[cls.code] == cls.status, cls


def test_internal_error_is_the_masked_500() -> None:
    assert (InternalError.code, InternalError.status) == ("INTERNAL_ERROR", 500)


@pytest.mark.parametrize("code", [c for c, s in PROTOCOL_CODES.items() if s == 401])
def test_every_401_code_is_an_authentication_error(code: str) -> None:
    error = AuthenticationError(code, "m")
    assert (error.code, error.status) == (code, 401)


@pytest.mark.parametrize("code", [c for c, s in PROTOCOL_CODES.items() if s != 401])
def test_no_other_code_makes_an_authentication_error(code: str) -> None:
    with pytest.raises(ValueError, match="not a 401 code"):
        AuthenticationError(code, "m")


@pytest.mark.parametrize("cls", [c for c in subclasses(crypto_errors.CryptoError)], ids=lambda c: c.__name__)
def test_every_crypto_error_keeps_its_code_at_the_edge(cls: type[crypto_errors.CryptoError]) -> None:
    translated = from_crypto(cls("m"))
    assert translated.code == cls.code
    assert translated.status == PROTOCOL_CODES[cls.code]
