"""A batch's token jtis recorded in one statement (docs/PROTOCOL.md §2), for the audit writer.

One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` with a row for each jti: the rows it returns are
the jtis recorded now, and any jti it does not return was recorded before, by an earlier batch or
another process. On PostgreSQL this is one round trip a batch, not one a jti, inside the advisory
lock every replica waits on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from gateway.store.driver_statements import DriverStatement
from gateway.store.tables import SeenToken

__all__ = ["SeenTokenInsert"]

_seen = SeenToken.__table__  # type: ignore[attr-defined]
_COLUMNS = ("issuer", "jti", "expires_at")


class SeenTokenInsert:
    """The insert for ``dialect``, compiled once for each power of two of rows it is run with."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._statements: dict[int, DriverStatement] = {}

    def recorded(self, connection: Connection, tokens: Sequence[tuple[str, str, int]]) -> set[tuple[str, str]]:
        """Record ``tokens`` (issuer, jti, keep until) in ``connection``'s transaction; return the
        (issuer, jti) pairs this call recorded. ``tokens`` must not repeat a pair."""
        if not tokens:
            return set()
        size = 1 << (len(tokens) - 1).bit_length()
        # Padding repeats the last row: DO NOTHING skips a row that conflicts with one inserted by
        # the same statement, so a repeat records nothing more and is returned at most once.
        padded = [*tokens, *[tokens[-1]] * (size - len(tokens))]
        values = {f"{name}_{n}": value
                  for n, row in enumerate(padded) for name, value in zip(_COLUMNS, row, strict=True)}
        return {(issuer, jti) for issuer, jti in self._statement(size).rows(connection, values)}

    def _statement(self, size: int) -> DriverStatement:
        statement = self._statements.get(size)
        if statement is None:
            insert = postgresql.insert if self._dialect.name == "postgresql" else sqlite.insert
            rows: list[dict[str, Any]] = [{name: bindparam(f"{name}_{n}") for name in _COLUMNS} for n in range(size)]
            statement = self._statements[size] = DriverStatement(
                insert(_seen).values(rows).on_conflict_do_nothing(index_elements=["issuer", "jti"])
                .returning(_seen.c.issuer, _seen.c.jti), self._dialect)
        return statement
