"""PostgreSQL schemas built once and reused from one test to the next instead of built for each.

`gateway init` on PostgreSQL costs 0.3–0.5 s, nearly all of it DDL, and about 700 tests take an
initialised database; the example platform of the sql subject source costs as much again. Emptying
a schema's rows and copying back those of a template costs about 12 ms. So each pytest-xdist worker
keeps a pool per kind of schema: the first schema built is the template and is never lent; a test
borrows another, built the same way, and on its return the schema is emptied and refilled with the
template's rows. A returned schema whose structure changed (a test that migrated it down, dropped a
column, added an index) or whose rows cannot be locked within two seconds (a connection left inside
a transaction) is dropped instead of reused, so every test still starts on exactly what was built.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

import sqlalchemy
from sqlalchemy.engine import Connection, Engine

__all__ = ["SchemaPool", "schema_url"]

# Columns and indexes of every relation: what a test could change about a schema's structure.
_STRUCTURE = sqlalchemy.text("""
SELECT md5(coalesce(string_agg(item, ',' ORDER BY item), '')) FROM (
  SELECT c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull AS item
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
  WHERE c.relnamespace = CAST(CAST(:schema AS text) AS regnamespace) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'index ' || indexname || ' ' || replace(indexdef, CAST(:schema AS text), '')
  FROM pg_indexes WHERE schemaname = CAST(:schema AS text)
) AS items""")
# Tables that hold rows of their own: plain and partitioned tables, not partitions (their rows are
# the partitioned table's, and copying both would copy them twice).
_TABLES = sqlalchemy.text("""
SELECT relname FROM pg_class WHERE relnamespace = CAST(CAST(:schema AS text) AS regnamespace)
AND relkind IN ('r', 'p') AND NOT relispartition ORDER BY relname""")


def schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with every connection's search_path set to ``schema``."""
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"


class SchemaPool:
    """Schemas on ``base_url`` that ``build(url)`` made; :meth:`lend` one per test."""

    def __init__(self, base_url: str, build: Callable[[str], None], *, prefix: str) -> None:
        self._base_url = base_url
        self._build = build
        self._prefix = prefix
        self._admin: Engine = sqlalchemy.create_engine(base_url)
        self._free: list[str] = []
        self._all: list[str] = []
        self._template = self._built()
        with self._admin.connect() as conn:
            self._structure = self._fingerprint(conn, self._template)
            self._tables = list(conn.execute(_TABLES, {"schema": self._template}).scalars())
            self._seeded = [table for table in self._tables
                            if conn.exec_driver_sql(f'SELECT 1 FROM "{self._template}"."{table}" LIMIT 1').first()]

    def _built(self) -> str:
        schema = f"{self._prefix}_{secrets.token_hex(6)}"
        with self._admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        self._all.append(schema)
        self._build(schema_url(self._base_url, schema))
        return schema

    @staticmethod
    def _fingerprint(conn: Connection, schema: str) -> str:
        return str(conn.execute(_STRUCTURE, {"schema": schema}).scalar_one())

    def _fill(self, conn: Connection, schema: str) -> None:
        """Empty every table of ``schema`` and copy the template's rows in (one transaction)."""
        conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
        # Foreign keys are not checked while the rows are swapped: the template's rows satisfy them.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in self._tables:
            conn.exec_driver_sql(f'DELETE FROM "{schema}"."{table}"')
        for table in self._seeded:
            conn.exec_driver_sql(f'INSERT INTO "{schema}"."{table}" SELECT * FROM "{self._template}"."{table}"')

    @contextmanager
    def lend(self) -> Iterator[str]:
        """A URL of a schema no one else holds, as ``build`` left it; reset or dropped when given back."""
        if self._free:
            schema = self._free.pop()
        else:
            schema = self._built()
            with self._admin.begin() as conn:  # the template's rows exactly, times and all
                self._fill(conn, schema)
        try:
            yield schema_url(self._base_url, schema)
        finally:
            self._give_back(schema)

    def _give_back(self, schema: str) -> None:
        try:
            with self._admin.begin() as conn:
                if self._fingerprint(conn, schema) != self._structure:
                    raise LookupError(f"{schema} changed structure")
                self._fill(conn, schema)
        except (LookupError, sqlalchemy.exc.DBAPIError):
            self._drop(schema)
            return
        self._free.append(schema)

    def _drop(self, schema: str) -> None:
        try:
            with self._admin.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except sqlalchemy.exc.DBAPIError:
            return  # still in use; close() tries again
        self._all.remove(schema)

    def close(self) -> None:
        for schema in list(self._all):
            self._drop(schema)
        self._admin.dispose()
