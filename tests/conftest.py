"""Fixtures shared by the whole suite.

Storage-backed tests take the ``db_kind`` parameter: always ``sqlite``, and ``postgresql`` too when
``GATEWAY_TEST_DATABASE_URL`` is set (``.ci/run`` sets it). Each PostgreSQL test gets a schema of
its own, dropped afterwards, so tests never see each other's rows.
"""

# Gateway imports are deferred into the fixtures so crypto-only test runs load none of gateway.
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.pg import throwaway_schema

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.store.engine import Database

PG_URL_ENV = "GATEWAY_TEST_DATABASE_URL"
VECTORS_DIR = Path(__file__).resolve().parent / "assets" / "vectors"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_kind" in metafunc.fixturenames:
        kinds = ["sqlite"]
        if os.environ.get(PG_URL_ENV):
            kinds.append("postgresql")
        metafunc.parametrize("db_kind", kinds)


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """tests/assets/vectors; a missing directory fails the tests that need it rather than skipping."""
    assert VECTORS_DIR.is_dir(), f"test vectors not found at {VECTORS_DIR}"
    return VECTORS_DIR


@pytest.fixture
def database_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    with throwaway_schema(os.environ[PG_URL_ENV]) as url:
        yield url


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Factory for Settings isolated in tmp_path; keyword arguments override fields."""

    from gateway.config import Settings

    def factory(**overrides: object) -> Settings:
        # Checkpoints on the hour unless a test asks for fresher ones: a checkpoint the background
        # checkpointer signs mid-test would race tests that compare the latest checkpoint.
        values: dict[str, object] = {"data_dir": tmp_path / "var", "id": "gateway.test",
                                     "checkpoint_every_seconds": 3600, "_env_file": None}
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    """Initialised settings (keys and schema) on the parametrised database."""
    from gateway.maintenance.initialize import initialize

    config = make_settings(database_url=database_url)
    initialize(config)
    return config


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    from gateway.store.engine import Database

    database = Database(settings.sqlalchemy_url)
    yield database
    database.dispose()
