"""What the edge tells the audit log about one request, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from crypto.encoding import b64encode
from gateway.values.times import rfc3339_us, rfc3339_us_micros

__all__ = ["SALT_BYTES", "Action", "AuditEvent", "AuditReceipt", "Decision", "entry_columns",
           "entry_document"]

# An entry's other fields are guessable (a request's own time to the microsecond, a count of a few
# values), and its leaf hash reaches those who may not read it: the authority in its receipt, anyone
# in the public hash tiles. 128 random bits in the hashed text make that hash say nothing of the
# entry to whoever lacks its text (docs/PROTOCOL.md §7).
SALT_BYTES = 16
_COLUMN_CHARS = 64  # the width of the indexed copies (request_id, principal, order_id) in audit_entries


class Decision(StrEnum):
    DISCLOSED = "disclosed"        # subject data left the gateway, sealed
    SERVED = "served"              # answered, no subject data (whoami, review, audit operations)
    REFUSED = "refused"            # refused with a §6 code
    RATE_LIMITED = "rate_limited"  # a summary of one window's rate-limited requests (count)


class Action(StrEnum):
    """A served request's effect that the log itself must prove, because a database column alone
    could be edited back: a revocation (issue 11). Entries of other requests carry no ``action``."""

    REVOKE_ORDER = "revoke_order"  # the entry's order_id names the order revoked


@dataclass(frozen=True)
class AuditEvent:
    """One request as the audit log records it. Holds no plaintext subject data: ``subjects`` are
    gateway subject ids, ``operation_sha256`` is over the operation with its literals removed.

    A rate-limit summary (``Decision.RATE_LIMITED``) stands for ``count`` requests from
    ``sources`` client addresses (never the addresses themselves) in ``window`` = [from, until)."""

    request_id: str
    time: datetime
    decision: Decision
    code: str | None = None
    principal: str | None = None
    principal_verified: bool = False
    order_id: str | None = None
    jti: str | None = None
    operation_sha256: str | None = None
    fields: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    disclosure_sha256: str | None = None
    count: int | None = None
    window: tuple[datetime, datetime] | None = None
    sources: int | None = None
    # Atomic with the entry: one query counted against this order, refused past max_queries.
    charge_order: str | None = None
    max_queries: int | None = None
    # Non-personal attributes of what a served request did, for transparency figures (§10.1).
    facts: list[dict[str, Any]] = field(default_factory=list)
    # Atomic with the entry: the token's (issuer, jti, keep-until) recorded as used; a jti used
    # before (or earlier in the same batch) turns the entry into a TOKEN_REPLAYED refusal.
    consume_token: tuple[str, str, int] | None = None
    action: Action | None = None


@dataclass(frozen=True)
class AuditReceipt:
    """Where the entry landed. ``decision``/``code`` differ from the event's when the writer had to
    refuse at commit time (an order exhausted by concurrent requests: ``ORDER_EXHAUSTED``)."""

    request_id: str
    index: int
    leaf_hash: str  # standard base64
    decision: Decision
    code: str | None

    def extension(self) -> dict[str, Any]:
        """The ``extensions.audit`` object of docs/PROTOCOL.md §7."""
        return {"request_id": self.request_id, "index": self.index, "leaf_hash": self.leaf_hash}


def _text(value: str | None) -> str | None:
    """A string the entry can hold: RFC 8785 needs UTF-8, and a token claim may carry a lone
    surrogate (JSON ``"\\ud800"``). Such code points are written as backslash escapes rather than
    making the entry impossible to write: an entry that cannot be written is a request unlogged."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def entry_document(event: AuditEvent, index: int, decision: Decision, code: str | None, *,
                   salt: bytes) -> dict[str, Any]:
    """The §7 entry for ``event`` at ``index`` (its JCS is the Merkle leaf), with ``salt``: a fresh
    :data:`SALT_BYTES` random bytes for every entry, never reused."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"an entry's salt is {SALT_BYTES} random bytes")
    document: dict[str, Any] = {
        "v": 1, "index": index, "time": rfc3339_us(event.time), "request_id": _text(event.request_id),
        "principal": _text(event.principal), "principal_verified": event.principal_verified,
        "order_id": _text(event.order_id), "jti": _text(event.jti), "operation_sha256": event.operation_sha256,
        "fields": sorted(_text(f) or "" for f in event.fields),
        "subjects": sorted(_text(s) or "" for s in event.subjects), "decision": decision.value,
        "code": code, "disclosure_sha256": event.disclosure_sha256, "salt": b64encode(salt),
    }
    if event.count is not None:
        document["count"] = event.count
    if event.window is not None:
        document["window"] = {"from": rfc3339_us(event.window[0]), "until": rfc3339_us(event.window[1])}
    if event.sources is not None:
        document["sources"] = event.sources
    if event.facts:
        document["facts"] = event.facts
    if event.action is not None:
        document["action"] = event.action.value
    return document


def _column(value: Any) -> str | None:
    """An indexed copy of a document string, or NULL when the value cannot be one: longer than the
    column, or holding NUL (PostgreSQL text refuses it). The entry text keeps the value whole; the
    copy only serves filtering, and no order or principal id the gateway issues is ever that long."""
    if not isinstance(value, str) or len(value) > _COLUMN_CHARS or "\x00" in value:
        return None
    return value


# Lookups, not Decision(value): `audit verify` derives these for every entry, and an enum call costs
# several dictionary lookups. An unknown value raises KeyError, an unhashable one TypeError.
_DECISIONS: dict[str, str] = {decision.value: decision.value for decision in Decision}
_ACTIONS: dict[str, str] = {action.value: action.value for action in Action}


def entry_columns(document: dict[str, Any]) -> dict[str, Any]:
    """The indexed copies of an entry's fields that ``audit_entries`` stores beside its text. The
    writer stores exactly these and `audit verify` recomputes them, so a copy edited in the database
    (which `audit show` and the authority's own-entry check read) is found like a changed entry.
    Raise ``ValueError``/``KeyError``/``TypeError`` for a document that lacks what they need."""
    return {
        "request_id": document["request_id"],
        "time_us": rfc3339_us_micros(document["time"]),
        "principal": _column(document["principal"]),
        "order_id": _column(document["order_id"]),
        "decision": _DECISIONS[document["decision"]],
        "action": None if document.get("action") is None else _ACTIONS[document["action"]],
    }
