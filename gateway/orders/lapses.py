"""The lapse sweep (docs/PROTOCOL.md §17.4): the time-based events, which no request makes.

An order that is ACTIVE and ends within 24 hours gets ``order.lapsing``; one that ended by time
(EXPIRED, or LAPSED for an emergency order without its court order) gets ``order.lapsed``. Only
orders announced ACTIVE that have not lapsed, been revoked or been used up are looked at, and each
event is recorded once per order by its unique key, however many processes sweep. ``now`` is a
parameter: the serving process passes its clock, tests the time they mean.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from gateway.notifications.events import record_event
from gateway.notifications.kinds import EventKind
from gateway.orders.policy import OrderStatus
from gateway.orders.service import Orders
from gateway.store.tables import EventRow, OrderRow

__all__ = ["LAPSING_WITHIN", "sweep_lapses"]

LAPSING_WITHIN = timedelta(hours=24)
_events = EventRow.__table__  # type: ignore[attr-defined]
_orders = OrderRow.__table__  # type: ignore[attr-defined]


def sweep_lapses(orders: Orders, *, now: datetime) -> int:
    """Record the lapsing and lapsed events due at ``now``; how many were new."""
    announced = select(_events.c.order_id).where(_events.c.kind == EventKind.ORDER_ACTIVATED.value)
    # A lapsed or used-up order has nothing left to lapse: the set swept stays the orders still live.
    ended = select(_events.c.order_id).where(_events.c.kind.in_([EventKind.ORDER_LAPSED.value,
                                                                  EventKind.ORDER_EXHAUSTED.value]))
    with orders.db.reads() as connection:
        candidates = list(connection.scalars(
            select(_orders.c.id).where(_orders.c.id.in_(announced), _orders.c.id.not_in(ended),
                                       _orders.c.revoked_at.is_(None)).order_by(_orders.c.created_at)))
    recorded = 0
    for order_id in candidates:
        state = orders.load(order_id, now=now)
        document = state.document
        if document is None:
            continue
        ends = document.valid_until
        if document.emergency is not None and state.continuation is None:
            ends = min(ends, document.emergency.lapses_at)  # no court order attached: it lapses first
        kind, at = None, now
        if state.status is OrderStatus.ACTIVE and ends - now <= LAPSING_WITHIN:
            kind = EventKind.ORDER_LAPSING
        elif state.status in (OrderStatus.EXPIRED, OrderStatus.LAPSED):
            kind, at = EventKind.ORDER_LAPSED, min(now, ends)
        if kind is None:
            continue
        with orders.db.session() as session:
            if record_event(session, authority_id=state.authority_id, kind=kind, request_id=state.request_id,
                            order_id=order_id, state=state.status.value, now=at) is not None:
                recorded += 1
    return recorded
