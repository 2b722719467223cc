"""Settings from the environment, and secret settings from files (docs/PROTOCOL.md §9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.config import Settings, SettingsError

URL = "postgresql+psycopg://gateway@db.internal:5432/gateway"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("GATEWAY_DATABASE_URL", "GATEWAY_DATABASE_PASSWORD", "GATEWAY_DATABASE_URL_FILE",
                 "GATEWAY_DATABASE_PASSWORD_FILE", "GATEWAY_SECRETS_DIR"):
        monkeypatch.delenv(name, raising=False)


def secret_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    path.chmod(0o600)
    return path


def test_the_database_url_reads_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL_FILE", str(secret_file(tmp_path, "url", URL + "\n")))
    assert Settings(_env_file=None).sqlalchemy_url == URL  # type: ignore[call-arg]


def test_the_password_from_a_file_goes_into_the_url_quoted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    password = "p@ss:w/rd%#"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", URL)
    monkeypatch.setenv("GATEWAY_DATABASE_PASSWORD_FILE", str(secret_file(tmp_path, "pw", password + "\n")))
    config = Settings(_env_file=None)  # type: ignore[call-arg]
    assert make_url(config.sqlalchemy_url).password == password
    assert password not in repr(config) and password not in str(config.model_dump())


def test_a_secrets_directory_holds_gateway_named_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    secret_file(secrets, "gateway_database_url", URL)
    secret_file(secrets, "gateway_database_password", "s3cret\n")
    monkeypatch.setenv("GATEWAY_SECRETS_DIR", str(secrets))
    assert make_url(Settings(_env_file=None).sqlalchemy_url).password == "s3cret"  # type: ignore[call-arg]


def test_the_variable_wins_over_the_secrets_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    secret_file(secrets, "gateway_database_url", "postgresql+psycopg://other@elsewhere/db")
    monkeypatch.setenv("GATEWAY_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", URL)
    assert Settings(_env_file=None).sqlalchemy_url == URL  # type: ignore[call-arg]


def test_a_value_and_a_file_at_once_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", URL)
    monkeypatch.setenv("GATEWAY_DATABASE_URL_FILE", str(secret_file(tmp_path, "url", URL)))
    with pytest.raises(SettingsError, match="both GATEWAY_DATABASE_URL and GATEWAY_DATABASE_URL_FILE"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_missing_secret_file_is_a_clear_cli_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_PASSWORD_FILE", str(tmp_path / "absent"))
    result = CliRunner().invoke(app, ["principals", "list"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert f"GATEWAY_DATABASE_PASSWORD_FILE: cannot read {tmp_path / 'absent'}" in message
    assert "Traceback" not in result.output


def test_a_password_without_a_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_PASSWORD", "x")
    result = CliRunner().invoke(app, ["principals", "list"])
    assert result.exit_code == 2
    assert "GATEWAY_DATABASE_PASSWORD needs GATEWAY_DATABASE_URL" in " ".join(result.output.split())
