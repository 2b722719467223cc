"""The event types an authority is told about (docs/PROTOCOL.md §17.4), with how often each may happen."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ONCE_PER_ORDER", "ONCE_PER_REQUEST", "EventKind", "once_key"]


class EventKind(StrEnum):
    """Standard Webhooks ``type`` values: hierarchical, full-stop delimited, ``[a-z_]`` words."""

    ORDER_ACTIVATED = "order.activated"  # the last approval it needed: the authority may query
    ORDER_REVOKED = "order.revoked"
    ORDER_LAPSING = "order.lapsing"  # it ends (expires, or an emergency order lapses) within 24 h
    ORDER_LAPSED = "order.lapsed"  # it ended by time: state EXPIRED, or LAPSED for an emergency order
    ORDER_EXHAUSTED = "order.exhausted"  # its last query was used
    REQUEST_REJECTED = "request.rejected"
    REQUEST_CLARIFICATION_REQUESTED = "request.clarification_requested"
    REQUEST_WITHDRAWN = "request.withdrawn"


ONCE_PER_ORDER = frozenset({EventKind.ORDER_ACTIVATED, EventKind.ORDER_REVOKED, EventKind.ORDER_LAPSING,
                            EventKind.ORDER_LAPSED, EventKind.ORDER_EXHAUSTED})
"""Kinds that happen to an order at most once: however many processes or sweeps notice, one event."""
ONCE_PER_REQUEST = frozenset({EventKind.REQUEST_REJECTED, EventKind.REQUEST_WITHDRAWN})
"""Kinds that end a request, so happen to it at most once. A clarification may be asked again."""


def once_key(kind: EventKind, *, request_id: str | None, order_id: str | None) -> str | None:
    """The unique key that makes ``kind`` happen once to its order or request; None if it may repeat."""
    if kind in ONCE_PER_ORDER and order_id is not None:
        return f"{kind.value}:{order_id}"
    if kind in ONCE_PER_REQUEST and request_id is not None:
        return f"{kind.value}:{request_id}"
    return None
