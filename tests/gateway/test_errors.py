"""Every error class the service can raise carries a docs/PROTOCOL.md §6 code and the status §6 gives it."""

from __future__ import annotations

import ast
import builtins
import importlib
import pkgutil
from pathlib import Path

import pytest

import gateway
from crypto import errors as crypto_errors
from gateway import errors as gateway_errors
from gateway.errors import (
    PROTOCOL_CODES,
    AuthenticationError,
    GatewayError,
    InternalError,
    OperatorError,
    SubjectImportError,
    from_crypto,
)

REPO = Path(__file__).resolve().parents[2]


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


def test_the_tree_holds_the_domain_errors_too() -> None:
    assert InternalError in ERROR_CLASSES
    assert OperatorError in ERROR_CLASSES
    # Issue 13 moved every error class into errors.py, so "a class of the tree defined outside
    # errors.py" can no longer hold; what it stood for can: the domains' errors join the tree.
    assert SubjectImportError in ERROR_CLASSES, "domain errors must join the tree"
    assert all(c.__module__ == "gateway.errors" for c in ERROR_CLASSES)


def _exception_names() -> set[str]:
    """Names a class can inherit from to be an exception: the builtins', crypto's and errors.py's."""
    names = {name for name, value in vars(builtins).items() if isinstance(value, type)
             and issubclass(value, BaseException)}
    for module in (gateway_errors, crypto_errors):
        names.update(name for name, value in vars(module).items() if isinstance(value, type)
                     and issubclass(value, BaseException))
    return names


def _defined_exceptions(path: Path, known: set[str], root: Path = REPO) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(base).rpartition(".")[2] for base in node.bases}
            if bases & known or any(b.endswith(("Error", "Exception")) for b in bases):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


def test_no_module_outside_errors_py_defines_an_exception_class() -> None:
    known = _exception_names()
    offenders = [hit for path in sorted((REPO / "gateway").rglob("*.py")) if path != REPO / "gateway" / "errors.py"
                 for hit in _defined_exceptions(path, known)]
    assert offenders == []


def test_the_walk_finds_an_exception_class_wherever_it_is(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import gateway.errors\nclass A(ValueError): ...\ndef f():\n"
                      "    class B(gateway.errors.BadRequest): ...\nclass C: ...\n")
    hits = _defined_exceptions(module, _exception_names(), root=tmp_path)
    assert [hit.split()[1] for hit in hits] == ["A", "B"]


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
