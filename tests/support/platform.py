"""The example platform of examples/platform/ in a throwaway PostgreSQL schema or MariaDB database,
filled with the same synthetic subjects an embedded-store test imports, for the sql subject source."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from gateway.subjects.normalise import normalise_phone
from gateway.values.times import parse_time
from tests.support.pg import throwaway_schema

__all__ = ["EXAMPLES", "MARIADB_URL_ENV", "fill_platform", "mariadb_platform", "on_both_sources", "platform_subjects",
           "postgresql_platform", "require_postgresql"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "platform"
MARIADB_URL_ENV = "GATEWAY_TEST_MARIADB_URL"
_MARIADB_DEFAULT = "mysql+pymysql://root@127.0.0.1:3306/test"


def platform_subjects(subjects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The subjects with their devices in first-seen order: the order the example mapping reads them
    in, so the embedded store (which keeps import order) and the platform answer the same lists."""
    return [s | {"devices": sorted(s["devices"], key=lambda d: (d["first_seen"], d["last_seen"], d["model"]))}
            for s in subjects]


def _statements(path: Path) -> list[str]:
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def fill_platform(url: str, schema_file: Path, subjects: Sequence[dict[str, Any]]) -> None:
    """Create the platform's tables at ``url`` and insert ``subjects`` (import-shaped dicts), phones
    in E.164 as a platform keeps them."""
    naive = "mysql" in url
    def when(text: str | None) -> Any:
        if text is None:
            return None
        moment = parse_time(text)
        return moment.replace(tzinfo=None) if naive else moment

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in _statements(schema_file):
                conn.execute(sqlalchemy.text(statement))
            text = sqlalchemy.text
            for s in subjects:
                conn.execute(text("INSERT INTO accounts VALUES (:id, :username, :phone, :created_at)"),
                             {"id": s["id"], "username": s["username"], "phone": normalise_phone(s["phone"]),
                              "created_at": when(s["created_at"])})
                for u in s["username_history"]:
                    conn.execute(text("INSERT INTO username_changes VALUES (:a, :u, :f, :t)"),
                                 {"a": s["id"], "u": u["username"], "f": when(u["from"]), "t": when(u.get("until"))})
                for d in s["devices"]:
                    conn.execute(text("INSERT INTO devices VALUES (:a, :m, :p, :app, :v, :f, :l)"),
                                 {"a": s["id"], "m": d["model"], "p": d["platform"], "app": d["app"],
                                  "v": d["app_version"], "f": when(d["first_seen"]), "l": when(d["last_seen"])})
                for e in s["ip_events"]:
                    conn.execute(text("INSERT INTO ip_sessions VALUES (:a, :ip, :port, :f, :l)"),
                                 {"a": s["id"], "ip": e["ip"], "port": e.get("port"),
                                  "f": when(e["first_seen"]), "l": when(e["last_seen"])})
    finally:
        engine.dispose()


def require_postgresql() -> str:
    """GATEWAY_TEST_DATABASE_URL, or skip: no PostgreSQL to hold the example platform."""
    base = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not base:
        pytest.skip("GATEWAY_TEST_DATABASE_URL is not set: no PostgreSQL to hold the example platform")
    return base


@contextmanager
def postgresql_platform(subjects: Sequence[dict[str, Any]]) -> Iterator[str]:
    """A URL of the example platform in a schema of its own on GATEWAY_TEST_DATABASE_URL (skip without it)."""
    with throwaway_schema(require_postgresql(), prefix="platform") as url:
        fill_platform(url, EXAMPLES / "schema.postgresql.sql", subjects)
        yield url


@contextmanager
def mariadb_platform(subjects: Sequence[dict[str, Any]]) -> Iterator[str]:
    """A URL of the example platform in a database of its own on MariaDB (skip if none is reachable)."""
    try:
        import pymysql  # noqa: F401
    except ImportError:
        pytest.skip("PyMySQL is not installed (the `mariadb` extra)")
    base = sqlalchemy.engine.make_url(os.environ.get(MARIADB_URL_ENV, _MARIADB_DEFAULT))
    admin = sqlalchemy.create_engine(base, connect_args={"connect_timeout": 2})
    name = f"platform_{secrets.token_hex(6)}"
    try:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE `{name}`"))
    except sqlalchemy.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"MariaDB is not reachable at {base.host}:{base.port} ({type(exc.orig).__name__})")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        fill_platform(url, EXAMPLES / "schema.mariadb.sql", subjects)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE `{name}`"))
        admin.dispose()


@pytest.fixture(name="subject_source", params=["embedded", "sql"])
def on_both_sources(request: pytest.FixtureRequest) -> str:
    """The ``subject_source`` fixture for a test module that runs on both sources (import it there):
    the wire contract does not depend on where subjects are read."""
    return str(request.param)
