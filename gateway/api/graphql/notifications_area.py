"""An authority's notifications (docs/PROTOCOL.md §17.4): its webhook (``setWebhook``) and the feed of
its events (``requestEvents``), which carry ids, types, states and times only."""

from __future__ import annotations

import strawberry

from crypto.webhooks import whpk
from gateway.api.graphql.context import RequestContext
from gateway.errors import BadRequest
from gateway.notifications.events import Event, publish, read_feed
from gateway.notifications.registration import set_webhook
from gateway.transparency import facts

__all__ = ["FEED_LIMIT", "NotificationsMutation", "NotificationsQuery", "RequestEvent", "RequestEventPage"]

FEED_LIMIT = 500
_DEFAULT_LIMIT = 100


@strawberry.type(description="A change of one of the authority's requests or orders (docs/PROTOCOL.md §17.4).")
class RequestEvent:
    id: strawberry.ID = strawberry.field(description="The event id, the webhook-id of its webhook.")
    type: str = strawberry.field(description="order.activated, request.rejected, ... (docs/PROTOCOL.md §17.4)")
    timestamp: str = strawberry.field(description="When the change happened, RFC 3339 UTC.")
    request_id: strawberry.ID | None
    order_id: strawberry.ID | None
    state: str | None = strawberry.field(description="The request's or order's status after the change.")
    cursor: str = strawberry.field(description="Pass as `after` to read the events after this one.")


@strawberry.type(description="A page of the feed, oldest first; `cursor` continues it (the `after` sent when empty).")
class RequestEventPage:
    events: list[RequestEvent]
    cursor: str


@strawberry.type(description="The authority's webhook as registered now, and the key its webhooks verify with.")
class WebhookRegistration:
    url: str | None
    public_key: str = strawberry.field(description="whpk_ + base64 of the gateway's Ed25519 key, which signs "
                                                   "the v1a webhook-signature (also in discovery)")


def _event(event: Event) -> RequestEvent:
    return RequestEvent(id=strawberry.ID(event.id), type=event.kind, timestamp=event.timestamp,
                        request_id=strawberry.ID(event.request_id) if event.request_id else None,
                        order_id=strawberry.ID(event.order_id) if event.order_id else None,
                        state=event.state, cursor=str(event.feed_seq))


def _position(after: str | None) -> int:
    if after is None or after == "":
        return 0
    if not after.isascii() or not after.isdigit() or len(after) > 18:
        raise BadRequest("after must be a cursor this feed returned (or left out, to read from the start)")
    return int(after)


@strawberry.type
class NotificationsQuery:
    @strawberry.field(description="Authority: its own events after the cursor `after`, oldest first.")
    def request_events(self, info: strawberry.Info[RequestContext, None], after: str | None = None,
                       limit: int | None = None) -> RequestEventPage:
        context = info.context
        context.require(info)
        position = _position(after)
        count = _DEFAULT_LIMIT if limit is None else limit
        if not 1 <= count <= FEED_LIMIT:
            raise BadRequest(f"limit must be between 1 and {FEED_LIMIT}")
        engine = context.services.db.engine
        # What the log holds by now is published first, so the feed does not wait for the worker's poll.
        with engine.begin() as connection:
            publish(connection, now=context.now)
        with engine.connect() as connection:
            found = read_feed(connection, context.caller.principal.id, after=position, limit=count)
        cursor = str(found[-1].feed_seq) if found else str(position)
        return RequestEventPage(events=[_event(e) for e in found], cursor=cursor)


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(description="Authority: set its webhook URL (https; http to a loopback address only), "
                                     "or remove it with null.")
    def set_webhook(self, info: strawberry.Info[RequestContext, None], url: str | None) -> WebhookRegistration:
        context = info.context
        context.require(info)
        principal = context.caller.principal
        registered = set_webhook(context.services.db, principal.id, url, undo=context.undo)
        context.outcome.facts.append(facts.webhook_set(principal.id, registered=registered is not None))
        return WebhookRegistration(url=registered, public_key=whpk(context.services.keys.signing_key.verify_key))
