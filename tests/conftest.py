"""Fixtures shared by the whole suite.

Storage-backed tests take the ``db_kind`` parameter: always ``sqlite``, and ``postgresql`` too when
``GATEWAY_TEST_DATABASE_URL`` is set (``.ci/run`` sets it). Each PostgreSQL test gets a schema of
its own, so tests never see each other's rows: an empty one, dropped afterwards (``database_url``),
or an initialised one (``settings``) from the worker's pool, emptied and refilled with what `gateway
init` wrote before the next test takes it (tests/support/pg_pool.py).
"""

# Gateway imports are deferred into the fixtures so crypto-only test runs load none of gateway.
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.pg import throwaway_schema

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.store.engine import Database
    from tests.support.pg_pool import SchemaPool

PG_URL_ENV = "GATEWAY_TEST_DATABASE_URL"
VECTORS_DIR = Path(__file__).resolve().parent / "assets" / "vectors"


# Suites kept to one pytest-xdist worker each (scripts/test runs `-n auto --dist loadgroup`): the
# end-to-end tests start real servers and the fuzz campaigns each run a thousand cases per caller,
# so in a group of their own each runs beside the in-process tests instead of beside its own kind.
# By path, since the scheduler sees only node ids: pytest-xdist's own `xdist_group` marks do not
# reach them under pytest 9 (it suffixes `Item._nodeid`, which pytest 9 no longer reads). A test
# marked e2e or fuzz outside these paths fails collection, so the two never drift apart.
SERIAL_SUITES = {"e2e": ("tests/e2e/", "tests/client/test_standalone.py"), "fuzz": ("tests/fuzz/",)}


def serial_suite(nodeid: str) -> str | None:
    return next((suite for suite, paths in SERIAL_SUITES.items() if nodeid.startswith(paths)), None)


def pytest_itemcollected(item: pytest.Item) -> None:
    for suite in SERIAL_SUITES:
        if item.get_closest_marker(suite) is not None and serial_suite(item.nodeid) != suite:
            raise pytest.UsageError(f"{item.nodeid} is marked {suite}: put it under {SERIAL_SUITES[suite][0]} "
                                    "or add its file to SERIAL_SUITES in tests/conftest.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):
        """Each test a unit of its own, but a serial suite one unit for one worker."""

        def _split_scope(self, nodeid: str) -> str:
            return serial_suite(nodeid) or nodeid

    return SuiteScheduling(config, log)  # type: ignore[arg-type]


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
        # Webhooks likewise: the notifier's thread runs one round at startup, then tests run rounds
        # themselves (WebhookWorker.tick with the time they mean).
        values: dict[str, object] = {"data_dir": tmp_path / "var", "id": "gateway.test",
                                     "checkpoint_every_seconds": 3600, "webhook_poll_seconds": 3600,
                                     "_env_file": None}
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return factory


@pytest.fixture(scope="session")
def initialised_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `gateway init` on SQLite for the whole session (each xdist worker makes its own): its data
    directory (keys) beside its database file. Migrating a new database costs more than copying one."""
    from gateway.config import Settings
    from gateway.maintenance.initialize import initialize

    root = tmp_path_factory.mktemp("initialised")
    initialize(Settings(data_dir=root / "var", id="gateway.test", checkpoint_every_seconds=3600, _env_file=None,
                        database_url=f"sqlite:///{root / 'gateway.db'}"))  # type: ignore[call-arg]
    return root


@pytest.fixture
def subject_source() -> str:
    """Where the gateway under test reads subjects: ``embedded``. A test module that overrides this
    fixture with the parameters ``embedded`` and ``sql`` runs on both sources; ``sql`` is the example
    platform (tests/support/platform.py) on PostgreSQL, skipped without GATEWAY_TEST_DATABASE_URL."""
    return "embedded"


@dataclass(frozen=True)
class InitialisedPool:
    schemas: SchemaPool
    keys: Path  # the data directory (keys) every schema of the pool was initialised with


@pytest.fixture(scope="session")
def initialised_postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InitialisedPool]:
    """The worker's pool of PostgreSQL schemas `gateway init` made (skipped without GATEWAY_TEST_DATABASE_URL)."""
    from gateway.config import Settings
    from gateway.maintenance.initialize import initialize
    from tests.support.pg_pool import SchemaPool

    if not os.environ.get(PG_URL_ENV):
        pytest.skip(f"{PG_URL_ENV} is not set")
    keys = tmp_path_factory.mktemp("initialised-pg") / "var"

    def build(url: str) -> None:
        initialize(Settings(data_dir=keys, id="gateway.test", checkpoint_every_seconds=3600, _env_file=None,
                            database_url=url))  # type: ignore[call-arg]

    pool = SchemaPool(os.environ[PG_URL_ENV], build, prefix="gw")
    yield InitialisedPool(pool, keys)
    pool.close()


@pytest.fixture(scope="session")
def world_platform() -> Iterator[SchemaPool]:
    """The worker's pool of example platforms (sql subject source) holding the world's subjects."""
    from tests.support.pg_pool import SchemaPool
    from tests.support.platform import EXAMPLES, fill_platform, platform_subjects, require_postgresql
    from tests.support.world import world_subjects

    subjects = platform_subjects(world_subjects())

    def build(url: str) -> None:
        fill_platform(url, EXAMPLES / "schema.postgresql.sql", subjects)

    pool = SchemaPool(require_postgresql(), build, prefix="platform")
    yield pool
    pool.close()


@pytest.fixture
def settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings], db_kind: str,
             subject_source: str, tmp_path: Path) -> Iterator[Settings]:
    """Initialised settings (keys and schema) on the parametrised database and subject source: a copy
    of the worker's initialised gateway, its keys (owner-only, as init made them) and its database,
    a file copied on SQLite and a pooled schema on PostgreSQL; with ``sql``, a pooled platform."""
    from tests.support.platform import EXAMPLES

    with ExitStack() as stack:
        overrides: dict[str, object] = {}
        if subject_source == "sql":
            platforms: SchemaPool = request.getfixturevalue("world_platform")
            overrides = {"subject_source": "sql", "subject_source_url": stack.enter_context(platforms.lend()),
                         "subject_source_mapping": EXAMPLES / "mapping.postgresql.toml"}
        if db_kind == "sqlite":
            initialised: Path = request.getfixturevalue("initialised_sqlite")
            database_url = f"sqlite:///{tmp_path / 'gateway.db'}"
            shutil.copy2(initialised / "gateway.db", tmp_path / "gateway.db")
            keys = initialised / "var"
        else:
            pool: InitialisedPool = request.getfixturevalue("initialised_postgresql")
            database_url = stack.enter_context(pool.schemas.lend())
            keys = pool.keys
        config = make_settings(database_url=database_url, **overrides)
        shutil.copytree(keys, config.data_dir)
        yield config


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    from gateway.store.engine import Database

    database = Database(settings.sqlalchemy_url)
    yield database
    database.dispose()
