"""A configuration error names the setting in one line and quotes no part of a secret.

Every secret setting (each ``SecretStr`` field of :class:`Settings`) is fed, from each place a
secret can come from, values that drivers and parsers choke on: an unescaped ``@`` and ``:`` in a
URL's password, ``/``, ``%``, a line break, bytes that are not UTF-8. Through the real CLI entry,
the command must exit 2 with exactly one line on stderr naming the setting, and neither output
may hold any four characters in a row of the secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.config import SECRETS_DIR_VARIABLE, Settings

# A port nothing listens on: a URL that parses is refused at once, never reached.
HOST = "127.0.0.1:1"
SECRET = "Qx7@vK:9wZr/%Tm"
"""The recognisable secret: a password with every character that has a meaning in a URL. In a URL
unescaped, SQLAlchemy takes `9wZr` for the port and its error quotes it."""


@dataclass(frozen=True)
class Case:
    setting: str  # the field name
    value: bytes  # what the variable, file or .env line holds
    secret: bytes  # the part of it that must never be shown
    url: str | None = None  # GATEWAY_DATABASE_URL alongside a password


def _url(password: bytes) -> bytes:
    return b"postgresql+psycopg://gw:" + password + b"@" + HOST.encode() + b"/gateway"


_PLAIN_URL = f"postgresql+psycopg://gw@{HOST}/gateway"
_PASSWORDS = (SECRET.encode(), b"Qx7@vK:9\nw%Zr", b"Qx7\xffvK:9/w%Zr", b"Qx7%zzvK@@9", b"%40Qx7vK:/9w")


def _cases() -> Iterator[Case]:
    for password in _PASSWORDS:
        yield Case("database_url", _url(password), password)
        yield Case("database_password", password, password, url=_PLAIN_URL)
    yield Case("database_url", b"not a url " + SECRET.encode(), SECRET.encode())
    yield Case("database_url", b"postgresql+psycopg://gw:" + SECRET.encode() + b"@", SECRET.encode())
    # The platform's database (the sql subject source): the same parse, refused at load, whatever the
    # command (a URL that parses is only used by the commands that read subjects).
    for password in _PASSWORDS[:4]:
        yield Case("subject_source_url", _url(password), password)
    yield Case("subject_source_url", b"not a url " + SECRET.encode(), SECRET.encode())


CASES = list(_cases())
SOURCES = ("variable", "file", "secrets_dir", "dotenv")


def test_every_secret_setting_is_covered() -> None:
    secret_fields = {name for name, field in Settings.model_fields.items()
                     if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))}
    assert secret_fields == {case.setting for case in CASES}


def _pieces(secret: bytes) -> set[str]:
    """Every run of four characters of the secret, as text could show it."""
    texts = {secret.decode("utf-8", "replace"), secret.decode("latin-1")}
    return {text[i:i + 4] for text in texts for i in range(len(text) - 3)} - {"\ufffd" * 4}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gateway's data directory with its keys, so that `gateway serve` goes on to the database."""
    path = tmp_path_factory.mktemp("gateway") / "var"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("GATEWAY_"):
                patch.delenv(name)
        patch.chdir(path.parent)
        result = CliRunner().invoke(app, ["init"], env={"GATEWAY_DATA_DIR": str(path)})
    assert result.exit_code == 0, result.output
    return path


def _carries(source: str, case: Case) -> bool:
    """Whether ``source`` can hold ``case``'s value: an environment variable of bytes that are not
    UTF-8 goes through the subprocess test below, and a .env line holds no line break."""
    if source == "variable":
        return not _undecodable(case)
    return source != "dotenv" or b"\n" not in case.value


def _undecodable(case: Case) -> bool:
    try:
        case.value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _arrange(case: Case, source: str, tmp_path: Path, data_dir: Path) -> dict[str, str]:
    """The environment for ``case`` from ``source``, files written under ``tmp_path``."""
    variable = f"GATEWAY_{case.setting.upper()}"
    env = {"GATEWAY_DATA_DIR": str(data_dir)}
    if case.url is not None:
        env["GATEWAY_DATABASE_URL"] = case.url
    if source == "variable":
        env[variable] = case.value.decode("utf-8")
    elif source == "file":
        (tmp_path / "secret").write_bytes(case.value + b"\n")
        env[f"{variable}_FILE"] = str(tmp_path / "secret")
    elif source == "secrets_dir":
        (tmp_path / "secrets").mkdir()
        (tmp_path / "secrets" / f"gateway_{case.setting}").write_bytes(case.value)
        env[SECRETS_DIR_VARIABLE] = str(tmp_path / "secrets")
    else:
        (tmp_path / ".env").write_bytes(variable.encode() + b"='" + case.value + b"'\n")
    return env


def _check(case: Case, exit_code: int, stdout: str, stderr: str) -> None:
    lines = stderr.splitlines()
    # 2: the setting itself was refused; 4: it was taken, and the database could not be reached with
    # it (docs/PROTOCOL.md §9 exit codes). Either way one line, naming the setting, quoting nothing.
    assert exit_code in (2, 4), (exit_code, stdout, stderr)
    assert (exit_code == 4) == ("cannot reach the database" in stderr), (exit_code, stderr)
    assert len(lines) == 1, stderr
    named = {f"GATEWAY_{case.setting.upper()}", SECRETS_DIR_VARIABLE} if case.url is None else {
        "GATEWAY_DATABASE_PASSWORD", SECRETS_DIR_VARIABLE}
    if exit_code == 4:
        # Taken, and then no server listened: the message names the setting that says where to
        # connect, not the password that was never tried.
        named = {"GATEWAY_DATABASE_URL"}
    assert any(name in lines[0] for name in named), lines[0]
    shown = [piece for piece in _pieces(case.secret) if piece in stdout or piece in stderr]
    assert shown == [], (shown, stderr)


@pytest.mark.parametrize("command", [["principals", "list"], ["serve", "--port", "65001"]], ids=["list", "serve"])
@pytest.mark.parametrize(("case", "source"), [(c, s) for c in CASES for s in SOURCES if _carries(s, c)],
                         ids=[f"{c.setting}-{n}-{s}" for n, c in enumerate(CASES) for s in SOURCES if _carries(s, c)])
def test_a_bad_secret_is_one_line_naming_the_setting(case: Case, source: str, command: list[str], tmp_path: Path,
                                                      data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the .env of this case, or none
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    env = _arrange(case, source, tmp_path, data_dir)
    result = CliRunner().invoke(app, command, env=env)
    _check(case, result.exit_code, result.stdout, result.stderr)


RAW_CASES = [CASES[0], *(case for case in CASES if _undecodable(case))]
"""The unescaped password of the report, and every value no text variable can hold."""


@pytest.mark.parametrize("case", RAW_CASES, ids=[f"{c.setting}-{n}" for n, c in enumerate(RAW_CASES)])
def test_the_program_itself_with_raw_bytes_in_the_environment(case: Case, tmp_path: Path, data_dir: Path) -> None:
    """The installed ``gateway`` in a process of its own: what an operator sees, tracebacks
    included, with variables of raw bytes no CliRunner can set."""
    program = Path(sys.executable).with_name("gateway")
    env = {key.encode(): value.encode() for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env[b"GATEWAY_DATA_DIR"] = str(data_dir).encode()
    if case.url is not None:
        env[b"GATEWAY_DATABASE_URL"] = case.url.encode()
    env[f"GATEWAY_{case.setting.upper()}".encode()] = case.value
    done = subprocess.run([str(program), "principals", "list"], env=env, cwd=tmp_path, capture_output=True,
                          timeout=60, check=False)
    _check(case, done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def _pem(kind: str, body: bytes) -> bytes:
    return f"-----BEGIN {kind}-----\n".encode() + body + f"\n-----END {kind}-----\n".encode()


TLS_KEYS = (_pem("PRIVATE KEY", SECRET.encode()), _pem("ENCRYPTED PRIVATE KEY", SECRET.encode() + b"\xff"),
            SECRET.encode() + b"\xfe\n")


@pytest.mark.parametrize("key", TLS_KEYS, ids=["pem", "encrypted", "bytes"])
def test_a_tls_key_that_does_not_load_is_one_line(key: bytes, tmp_path: Path, data_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`gateway serve` with a TLS key file holding a secret that is no key: refused before
    uvicorn loads it (and ends in a traceback), naming the option, quoting nothing of the file."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    (tmp_path / "cert.pem").write_bytes(_pem("CERTIFICATE", SECRET.encode()))
    (tmp_path / "key.pem").write_bytes(key)
    env = {"GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_SSL_CERTFILE": str(tmp_path / "cert.pem"),
           "GATEWAY_SSL_KEYFILE": str(tmp_path / "key.pem")}
    result = CliRunner().invoke(app, ["serve", "--port", "65002"], env=env)
    _check(Case("ssl_keyfile", key, SECRET.encode(), url=None), result.exit_code, result.stdout, result.stderr)
