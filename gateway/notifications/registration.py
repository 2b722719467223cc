"""Registering an authority's webhook URL (docs/PROTOCOL.md §17.4): by the authority itself
(``setWebhook``) or by the operator (``gateway principals webhook``), the same conditional write."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.errors import BadRequest
from gateway.notifications.webhook_url import check_webhook_url
from gateway.store.conditional import compare_and_set, decide
from gateway.store.engine import Database
from gateway.store.tables import Principal
from gateway.store.undo import Undo, undo_row_change

__all__ = ["set_webhook", "webhook_of"]

_principals = Principal.__table__  # type: ignore[attr-defined]
_AUTHORITY = "authority"


def set_webhook(db: Database, authority_id: str, url: str | None, *, undo: list[Undo] | None = None) -> str | None:
    """Set (``url``) or remove (None) the authority's webhook; the URL now registered.

    ``BAD_REQUEST`` for a URL :func:`check_webhook_url` refuses, for a principal that is no
    authority, and when the webhook is already what was asked: of two identical requests at once,
    one sets it and the other is told so, as a later twin is (a compare-and-set on the URL read)."""
    wanted = check_webhook_url(url) if url is not None else None

    def attempt(session: Session) -> tuple[str | None] | None:
        row = session.get(Principal, authority_id)
        if row is None or row.role != _AUTHORITY:
            raise BadRequest("only an authority has a webhook; see `gateway principals list`")
        if row.webhook_url == wanted:
            raise BadRequest("the webhook is already registered as asked; nothing changed" if wanted is not None
                             else "no webhook is registered; nothing to remove")
        seen = row.webhook_url
        if not compare_and_set(session, _principals, {"id": authority_id}, {"webhook_url": seen},
                               {"webhook_url": wanted}):
            return None
        return (seen,)

    (previous,) = decide(db, attempt)
    undo_row_change(db, undo, Principal, authority_id, {"webhook_url": previous})
    return wanted


def webhook_of(db: Database, authority_id: str) -> str | None:
    with db.session() as session:
        row = session.get(Principal, authority_id)
        return row.webhook_url if row is not None else None
