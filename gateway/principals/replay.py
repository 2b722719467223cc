"""Single use of token ``jti``s (docs/PROTOCOL.md §2), kept in the database so that every gateway
process sharing it refuses every other's replays. The one module that owns it: the request path's
check (:class:`ReplayStore`) and the audit writer's batch insert (:class:`SeenTokenInsert`), which
records a batch's jtis in one ``INSERT … ON CONFLICT DO NOTHING RETURNING``: the rows it returns are
the jtis recorded now, and any jti it does not return was recorded before, by an earlier batch or
another process. On PostgreSQL this is one round trip a batch, not one a jti, inside the advisory
lock every replica waits on."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import col

from gateway.errors import AuthenticationError
from gateway.store.driver_statements import DriverStatement, Prepared
from gateway.store.engine import Database
from gateway.store.tables import SeenToken

__all__ = ["ReplayStore", "SeenTokenInsert", "replayed"]

_seen = SeenToken.__table__  # type: ignore[attr-defined]
_SEEN = Prepared(select(_seen.c.jti).where(_seen.c.issuer == bindparam("issuer"), _seen.c.jti == bindparam("jti")))

_PURGE_EVERY_S = 60
_COLUMNS = ("issuer", "jti", "expires_at")


def replayed() -> AuthenticationError:
    return AuthenticationError("TOKEN_REPLAYED", "this token's jti was used before; sign a new token "
                               "with a fresh jti for every request")


class ReplayStore:
    """Records each ``(issuer, jti)`` once; a second use is ``TOKEN_REPLAYED``."""

    def __init__(self, db: Database, *, retention_s: int) -> None:
        self.db = db
        self.retention_s = retention_s
        self._insert = (postgresql.insert if db.dialect == "postgresql" else sqlite.insert)(SeenToken)
        self._last_purge = 0
        self._lock = threading.Lock()

    def keep_until(self, expires_at: int) -> int:
        """Until when a token expiring at ``expires_at`` stays recorded."""
        return expires_at + self.retention_s

    def check_unused(self, issuer: str, jti: str, *, now: int) -> None:
        """Refuse a jti recorded already, without recording it: the audit writer records it in the
        request's own commit (:class:`gateway.audit.model.AuditEvent` ``consume_token``), and
        refuses it there too if another request recorded it meanwhile."""
        with self.db.reads() as connection:
            found = _SEEN.first(connection, {"issuer": issuer, "jti": jti})
        if found is not None:
            raise replayed()
        self._maybe_purge(now)

    def consume(self, issuer: str, jti: str, *, expires_at: int, now: int) -> None:
        """Mark the jti used until ``retention_s`` past the token's expiry, in a commit of its own;
        raise if it was used. For requests that change state before their audit entry is written."""
        values = self._insert.values(issuer=issuer, jti=jti, expires_at=self.keep_until(expires_at))
        statement = values.on_conflict_do_nothing(index_elements=["issuer", "jti"]).returning(col(SeenToken.jti))
        with self.db.session() as session:
            inserted = session.execute(statement).first()
        if inserted is None:
            raise replayed()
        self._maybe_purge(now)

    def purge(self, now: int) -> int:
        """Forget jtis whose retention has passed; return how many."""
        with self.db.session() as session:
            result = session.execute(delete(SeenToken).where(col(SeenToken.expires_at) < now))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _maybe_purge(self, now: int) -> None:
        with self._lock:
            if now - self._last_purge < _PURGE_EVERY_S:
                return
            self._last_purge = now
        self.purge(now)



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
