"""Reversing a committed row change when the request that made it ends refused or unaudited, so
no review action stands unlogged (orders and preservation holds both use it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.store.engine import Database
from gateway.store.versions import bump

__all__ = ["Undo", "undo_row_change"]


Undo = Callable[[], None]
"""Reverses one committed change; run when the request that made it ends refused or unaudited."""


def undo_row_change(db: Database, undo: list[Undo] | None, model: Any, key: object,
                    restore: dict[str, Any] | None) -> None:
    """Record how to reverse a committed change: delete the row (``restore`` None) or put the
    given columns back. The edge runs these, newest first, when the request ends refused or
    its audit entry cannot be made durable, so no review action stands unlogged."""
    if undo is None:
        return

    def reverse() -> None:
        with db.session() as session:
            row = session.get(model, key)
            if row is None:
                return
            if restore is None:
                session.delete(row)
            else:
                for column, value in restore.items():
                    setattr(row, column, value)
            bump(session)  # an approval or a revocation undone: what was cached on it is stale

    undo.append(reverse)
