"""A PostgreSQL schema of a test's own, dropped afterwards, so tests never see each other's rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import sqlalchemy


@contextmanager
def throwaway_schema(base_url: str, *, prefix: str = "t") -> Iterator[str]:
    """Create a fresh schema on ``base_url``; yield a URL whose connections use it; drop it."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = sqlalchemy.create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
