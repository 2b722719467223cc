"""How many queries an order has used, read by primary key and trusted only when it proves itself.

The audit writer charges a disclosure to its order in the transaction that appends the entry,
and stores beside the count the index of that entry and a MAC over both (a key derived from the
gateway's at-rest key, which the database never holds). A reader accepts the stored count only if

1. the MAC verifies: an edited count or index without the key is refused, and
2. no disclosure of the order lies in the log past that index: one seek on the
   ``(order_id, decision, idx)`` index. This catches the edit that the MAC cannot, putting back
   an older (count, index, MAC) triple that was once genuine.

Anything else (no MAC yet, a MAC that fails, a later disclosure) falls back to counting the
order's disclosures in the log, the source of truth: a range scan over that order's own entries.
So an edited counter can only make a request slower, never grant a query the log does not allow;
and `gateway audit verify` reports a stored count that differs from the log's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, func, select

from gateway.store.tables import AuditEntry, OrderRow

__all__ = ["StoredUsage", "count_disclosures", "later_disclosure", "stored_usage", "trusted_usage", "usage_columns",
           "usage_key", "usage_mac"]

log = logging.getLogger("gateway.audit.usage")

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_orders = OrderRow.__table__  # type: ignore[attr-defined]
_DISCLOSED = "disclosed"


def usage_key(at_rest_key: bytes) -> bytes:
    """The MAC key for order usage, derived so that it is never the at-rest key itself."""
    return hashlib.blake2b(b"order usage MAC key", key=at_rest_key, person=b"dg-usage-key-v1", digest_size=32).digest()


def usage_mac(key: bytes, order_id: str, used: int, last_index: int) -> bytes:
    message = f"{order_id}\x00{used}\x00{last_index}".encode()
    return hashlib.blake2b(message, key=key, person=b"dg-order-usage1", digest_size=32).digest()


@dataclass(frozen=True)
class StoredUsage:
    """The writer's columns of one order row, and the first disclosure of the order past
    ``last_index`` (None if there is none), read in one statement so in one snapshot: read apart,
    a charge committed between the two would look like a rolled-back count."""

    order_id: str
    used: int
    last_index: int | None
    mac: bytes | None
    later: int | None


def usage_columns() -> tuple[Any, ...]:
    """The columns to select from ``orders`` for :class:`StoredUsage`, the later disclosure too."""
    later = (select(_entries.c.idx)
             .where(_entries.c.order_id == _orders.c.id, _entries.c.decision == _DISCLOSED,
                    _entries.c.idx > _orders.c.usage_index)
             .limit(1).correlate(_orders).scalar_subquery())
    return (_orders.c.queries_used, _orders.c.usage_index, _orders.c.usage_mac, later.label("later_disclosure"))


def stored_usage(order_id: str, queries_used: int, usage_index: int | None, mac: bytes | None,
                 later: int | None) -> StoredUsage:
    """The values of :func:`usage_columns`, in its order, as read for ``order_id``."""
    return StoredUsage(order_id, int(queries_used), usage_index, mac, later)


def later_disclosure(order_id: str, index: int) -> Select[Any]:
    """Any disclosure of ``order_id`` past ``index``: one index seek, whatever the log's size."""
    return (select(_entries.c.idx)
            .where(_entries.c.order_id == order_id, _entries.c.decision == _DISCLOSED, _entries.c.idx > index)
            .limit(1))


def count_disclosures(order_id: str) -> Select[Any]:
    return (select(func.count()).select_from(_entries)
            .where(_entries.c.order_id == order_id, _entries.c.decision == _DISCLOSED))


def trusted_usage(connection: Connection, stored: StoredUsage, key: bytes | None) -> int:
    """The order's used queries: the stored count if it proves itself, else the log's count."""
    if key is not None and stored.mac is not None and stored.last_index is not None:
        expected = usage_mac(key, stored.order_id, stored.used, stored.last_index)
        if hmac.compare_digest(expected, bytes(stored.mac)):
            if stored.later is None:
                return stored.used
            log.error("an order's stored query count is older than the audit log; counting the log instead")
        else:
            log.error("an order's stored query count does not verify; counting the audit log instead")
    # A stored count above the log's only refuses sooner, so the higher of the two stands.
    return max(stored.used, int(connection.execute(count_disclosures(stored.order_id)).scalar_one()))
