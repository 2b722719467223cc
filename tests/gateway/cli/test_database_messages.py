"""A database the commands cannot use says why and what to check, never the setting's value:
credentials refused, no such database and nothing listening are three messages (exit 4), against
the real PostgreSQL of ``GATEWAY_TEST_DATABASE_URL``; a SQLite URL naming no file names the absolute
path and the variable (exit 2), and creates nothing there (docs/PROTOCOL.md §13 Messages)."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from gateway.cli.main import app
from gateway.store.engine import connection_failure
from tests.conftest import PG_URL_ENV
from tests.support.live import free_port

SERVER = os.environ.get(PG_URL_ENV)
needs_postgresql = pytest.mark.skipif(SERVER is None, reason=f"{PG_URL_ENV} names no PostgreSQL")
PASSWORD = "s3cret-not-to-be-shown"


def _gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, *args: str,
             password: str | None = None) -> tuple[Result, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    if password is None:
        monkeypatch.delenv("GATEWAY_DATABASE_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("GATEWAY_DATABASE_PASSWORD", password)
    result = CliRunner().invoke(app, list(args))
    return result, " ".join(result.stderr.replace("│", " ").split())


def _server(**parts: object) -> str:
    assert SERVER is not None
    return make_url(SERVER).set(**parts).render_as_string(hide_password=False)  # type: ignore[arg-type]


COMMANDS = [["principals", "list"], ["init"]]


@needs_postgresql
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(("password", "check"), [
    (None, "check the user and password in GATEWAY_DATABASE_URL"),
    (PASSWORD, "check the user in GATEWAY_DATABASE_URL and GATEWAY_DATABASE_PASSWORD"),
])
def test_credentials_refused_say_authentication_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       command: list[str], password: str | None,
                                                       check: str) -> None:
    result, said = _gateway(tmp_path, monkeypatch, _server(username="no_such_role_here"), *command,
                            password=password)
    assert result.exit_code == 4, result.output
    assert "authentication failed" in said and check in said
    assert "no_such_role_here" not in said and PASSWORD not in said and "127.0.0.1" not in said


@needs_postgresql
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_database_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    result, said = _gateway(tmp_path, monkeypatch, _server(database="no_such_database_here"), *command)
    assert result.exit_code == 4, result.output
    assert "the database does not exist on the server" in said
    assert "check the database name in GATEWAY_DATABASE_URL" in said
    assert "no_such_database_here" not in said and "authentication" not in said


@needs_postgresql
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_closed_port_says_connection_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               command: list[str]) -> None:
    port = free_port()
    result, said = _gateway(tmp_path, monkeypatch, _server(port=port), *command)
    assert result.exit_code == 4, result.output
    assert "connection refused" in said and "the host and port in GATEWAY_DATABASE_URL" in said
    assert str(port) not in said and "does not exist" not in said


def test_the_password_failure_of_a_password_server_reads_as_authentication() -> None:
    # The server here trusts loopback, so it never asks for a password; this is psycopg's text
    # when one that does refuses it (SQLSTATE 28P01 is not set on connection errors).
    refused = psycopg.OperationalError('connection failed: connection to server at "10.0.0.5", port 5432 failed: '
                                       'FATAL:  password authentication failed for user "gw"')
    said = connection_failure(refused, url_setting="GATEWAY_DATABASE_URL",
                              password_setting="GATEWAY_DATABASE_PASSWORD")
    assert said.startswith("authentication failed")
    assert "10.0.0.5" not in said and '"gw"' not in said


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_a_sqlite_url_naming_no_file_names_its_path_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool) -> None:
    gone = tmp_path / "gone.db"
    url = "sqlite:///gone.db" if relative else f"sqlite:///{gone}"
    result, said = _gateway(tmp_path, monkeypatch, url, "principals", "list")
    assert result.exit_code == 2, result.output
    assert f"no database at {gone}," in said and "GATEWAY_DATABASE_URL" in said
    assert not gone.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
