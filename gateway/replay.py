"""Single use of token ``jti``s (docs/PROTOCOL.md §2), kept in the database so that every gateway
process sharing it refuses every other's replays."""

from __future__ import annotations

import threading

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from gateway.errors import AuthenticationError
from gateway.store.engine import Database
from gateway.store.tables import SeenToken

__all__ = ["ReplayStore"]

_PURGE_EVERY_S = 60


class ReplayStore:
    """Records each ``(issuer, jti)`` once; a second use is ``TOKEN_REPLAYED``."""

    def __init__(self, db: Database, *, retention_s: int) -> None:
        self.db = db
        self.retention_s = retention_s
        self._insert = (postgresql.insert if db.dialect == "postgresql" else sqlite.insert)(SeenToken)
        self._last_purge = 0
        self._lock = threading.Lock()

    def consume(self, issuer: str, jti: str, *, expires_at: int, now: int) -> None:
        """Mark the jti used until ``retention_s`` past the token's expiry; raise if it was used."""
        values = self._insert.values(issuer=issuer, jti=jti, expires_at=expires_at + self.retention_s)
        statement = values.on_conflict_do_nothing(index_elements=["issuer", "jti"]).returning(col(SeenToken.jti))
        with self.db.session() as session:
            inserted = session.execute(statement).first()
        if inserted is None:
            raise AuthenticationError("TOKEN_REPLAYED", "this token's jti was used before; sign a new token "
                                      "with a fresh jti for every request")
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
