"""The CLI as an operator runs it: configured by GATEWAY_ variables for the test's database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from gateway.config import Settings

__all__ = ["operator_cli", "operator_env"]


def operator_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, *, workdir: Path | None = None) -> None:
    """Point the GATEWAY_ variables at ``settings``' data and database; ``workdir`` becomes the
    working directory, so that no stray .env is read."""
    if workdir is not None:
        monkeypatch.chdir(workdir)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_ID", settings.id)
    if settings.database_url is not None:
        monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.database_url.get_secret_value())


def operator_cli(app: typer.Typer, settings: Settings, monkeypatch: pytest.MonkeyPatch, *,
                 workdir: Path | None = None, prefix: Sequence[str] = ()) -> Callable[..., Result]:
    """``run(*args)``: ``app`` invoked with ``prefix`` and ``args`` (made strings) as an operator would."""
    operator_env(settings, monkeypatch, workdir=workdir)
    runner = CliRunner()

    def run(*args: Any) -> Result:
        return runner.invoke(app, [*prefix, *(str(a) for a in args)])

    return run
