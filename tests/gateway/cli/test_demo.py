"""`gateway demo run`'s choice of data directory and database, without running the story."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli.demo import DEMO_DATA_DIR, _demo_settings
from gateway.errors import OperatorError


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    for name in ("GATEWAY_DATA_DIR", "GATEWAY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_demo_uses_var_demo_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _demo_settings().data_dir == DEMO_DATA_DIR
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "elsewhere"))
    assert _demo_settings().data_dir == tmp_path / "elsewhere"


def test_the_demo_never_writes_into_a_configured_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg://user@127.0.0.1/production")
    with pytest.raises(OperatorError, match="unset GATEWAY_DATABASE_URL"):
        _demo_settings()
