"""Whether a grant stored in the database is proven by the audit entry that recorded it
(docs/PROTOCOL.md §14, §16).

A row that grants (an approval, an emergency's verification, a court order's attachment, a
preservation grant or extension) carries the ``request_id`` of the request that made it: the
gateway's own random ``req_…`` id, unique in the log (``uq_audit_entries_request_id``), known
before the entry is written. A reader believes the row only if that entry exists and says so: a
``served`` request by the verified principal the row names, with a fact of the grant's kind whose
keys hold the row's values (and, where the row carries a time, made in that second). The entry's
text is read, not its indexed copies, so an edited ``decision`` or ``principal`` column proves nothing.

So a row written straight into the database, a row whose values were changed, and a row left by
a request whose entry never became durable (a crash between the two commits) grant nothing. The
check is one unique-index seek; what it proved stays proven (the log only grows), so it is
remembered and a loader on the hot path pays it once per grant and process.

The fact kinds are those of docs/PROTOCOL.md §10.1 and §16.5; gateway/transparency/facts.py,
which writes them, takes its names from here.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from gateway.principals.registry import SEALING_KEY_ROTATED, SIGNING_KEY_ROTATED
from gateway.store.driver_statements import Prepared
from gateway.store.tables import AuditEntry
from gateway.values.times import parse_time

__all__ = ["COURT_ORDER_ATTACHED", "EMERGENCY_VERIFIED", "ORDER_APPROVED", "PRESERVATION_EXTENDED",
           "PRESERVATION_GRANTED", "REQUEST_SUBMITTED", "SEALING_KEY_ROTATED", "SIGNING_KEY_ROTATED", "Claim",
           "GrantProofs"]

REQUEST_SUBMITTED = "request_submitted"
ORDER_APPROVED = "order_approved"
EMERGENCY_VERIFIED = "emergency_verified"
COURT_ORDER_ATTACHED = "court_order_attached"
PRESERVATION_GRANTED = "preservation_granted"
PRESERVATION_EXTENDED = "preservation_extended"

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_BY_REQUEST = Prepared(select(_entries.c.entry).where(_entries.c.request_id == bindparam("request_id")))
_SERVED = "served"


@dataclass(frozen=True)
class Claim:
    """What a stored grant says of itself: its entry (a request id), who made it, the fact's kind
    and the values its keys must hold, and the second it was made in, where the row records one."""

    entry: str | None
    principal: str
    kind: str
    values: tuple[tuple[str, Any], ...]
    at: datetime | None = None


Pending = str | frozenset[str] | None
"""The request ids whose entries are on their way to the log (see :meth:`GrantProofs.fact`)."""


class GrantProofs:
    """Checks claims against the log, remembering (up to ``limit``) those that held."""

    def __init__(self, limit: int = 65536) -> None:
        self.limit = limit
        self._proven: OrderedDict[Claim, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def fact(self, connection: Connection, claim: Claim, *, pending: Pending = None) -> dict[str, Any] | None:
        """The fact of ``claim``'s entry that proves it, or None. ``pending`` is the request being
        served, whose entry is not written yet: its own claims hold for its own answer (if the
        entry never becomes durable its changes are undone), and are not remembered. A set of
        request ids: each holds so (an approval deciding, over the signatures stored with it,
        whether it is the one that activates an order; see ``Orders.approve_order``)."""
        if claim.entry is None:
            return None
        if pending is not None and claim.entry in ((pending,) if isinstance(pending, str) else pending):
            return dict(claim.values) | {"kind": claim.kind}
        with self._lock:
            found = self._proven.get(claim)
            if found is not None:
                self._proven.move_to_end(claim)
                return found
        row = _BY_REQUEST.first(connection, {"request_id": claim.entry})
        found = _matching_fact(str(row[0]), claim) if row is not None else None
        if found is not None:
            with self._lock:
                self._proven[claim] = found
                while len(self._proven) > self.limit:
                    self._proven.popitem(last=False)
        return found

    def proven(self, connection: Connection, claim: Claim, *, pending: Pending = None) -> bool:
        return self.fact(connection, claim, pending=pending) is not None

    def proves(self, connection: Connection, entry: str, principal: str, kind: str,
               values: tuple[tuple[str, Any], ...]) -> bool:
        """:meth:`proven` in the shape the principal registry takes (``registry.Proves``): a key a
        principal set itself (docs/PROTOCOL.md §17.5) counts only when its entry says so."""
        return self.proven(connection, Claim(entry=entry, principal=principal, kind=kind, values=values))


def _matching_fact(text: str, claim: Claim) -> dict[str, Any] | None:
    try:
        entry = json.loads(text)
        if (not isinstance(entry, dict) or entry.get("request_id") != claim.entry
                or entry.get("decision") != _SERVED or entry.get("principal_verified") is not True
                or entry.get("principal") != claim.principal):
            return None
        if claim.at is not None and parse_time(str(entry.get("time"))).replace(microsecond=0) != claim.at:
            return None
        facts = entry.get("facts")
    except (ValueError, TypeError):
        return None
    if not isinstance(facts, list):
        return None
    for fact in facts:
        if isinstance(fact, Mapping) and fact.get("kind") == claim.kind and all(
                fact.get(key) == value for key, value in claim.values):
            return dict(fact)
    return None
