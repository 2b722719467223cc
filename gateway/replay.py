"""Single use of token ``jti``s (docs/PROTOCOL.md §2), kept in the database so that every gateway
process sharing it refuses every other's replays."""

from __future__ import annotations

import threading

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from gateway.errors import AuthenticationError
from gateway.store.driver_statements import Prepared
from gateway.store.engine import Database
from gateway.store.tables import SeenToken

__all__ = ["ReplayStore", "replayed"]

_seen = SeenToken.__table__  # type: ignore[attr-defined]
_SEEN = Prepared(select(_seen.c.jti).where(_seen.c.issuer == bindparam("issuer"), _seen.c.jti == bindparam("jti")))

_PURGE_EVERY_S = 60


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
