"""The gateway's tables. Times are integer Unix seconds (microseconds where ordering matters);
documents that are signed or hashed are stored as their exact JCS text.

No column holds a phone number, an IP address or a username in plaintext: subject data is
AEAD ciphertext (``subjects.sealed``, ``subject_events.sealed``), lookups go through keyed blind indexes
(``subject_index.digest``), and a request's selectors are encrypted the same way.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, SmallInteger, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

__all__ = [
    "AuditCheckpoint", "AuditCosignature", "AuditEntry", "AuditNode", "AuditSigningKey", "ContinuationApproval",
    "EventRow", "LegalRequestRow", "NoticeSent", "OrderApproval", "OrderContinuation", "OrderRow", "PreservationRow",
    "Principal", "PrincipalKey",
    "SeenToken", "StateVersion", "Subject", "SubjectEvent", "SubjectIndex", "TransparencyReportRow", "metadata",
]

metadata = SQLModel.metadata


class Principal(SQLModel, table=True):
    """An authority, reviewer or auditor; admins act on the host and are not principals."""

    __tablename__ = "principals"
    id: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    name: str = Field(max_length=200)
    country: str | None = Field(default=None, max_length=2)
    sealing_key: str | None = Field(default=None, max_length=64)
    status: str = Field(default="active", max_length=16)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    # An authority's Standard Webhooks endpoint (docs/PROTOCOL.md §17.4); NULL: it follows the feed only.
    webhook_url: str | None = Field(default=None, max_length=2048)
    # Set when the authority set its sealing key itself (docs/PROTOCOL.md §17.5): the request id of
    # the audit entry that recorded it (gateway/audit/grants.py); without that entry the key is not used.
    sealing_audit_request_id: str | None = Field(default=None, max_length=64)


class PrincipalKey(SQLModel, table=True):
    """A token-signing key of a principal, found by (principal, kid)."""

    __tablename__ = "principal_keys"
    principal_id: str = Field(foreign_key="principals.id", primary_key=True, max_length=64)
    kid: str = Field(primary_key=True, max_length=16)
    public_key: str = Field(max_length=64)
    status: str = Field(default="active", max_length=16)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    retired_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # A key its principal rotated out works until here (docs/PROTOCOL.md §17.5), then is KEY_SUPERSEDED.
    not_after: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # A key the principal added itself: the request id of the audit entry that recorded it
    # (gateway/audit/grants.py) and the signed statement; without that entry the key authenticates nothing.
    audit_request_id: str | None = Field(default=None, max_length=64)
    proof: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Subject(SQLModel, table=True):
    """A platform user: the id, and its current phone, username and created_at as one AEAD ciphertext
    bound to the id. ``layout`` 2 is that head alone, its history in ``subject_events``; layout 1 (a
    database written before schema revision 0009, until `gateway init` converts it) seals the whole
    history in the same document."""

    __tablename__ = "subjects"
    id: str = Field(primary_key=True, max_length=64)
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    layout: int = Field(default=2, sa_column=Column(SmallInteger, nullable=False, server_default=text("1")))


class SubjectEvent(SQLModel, table=True):
    """One IP event, device or username record of a subject, sealed on its own and bound to the
    subject, its kind and its times; ``id`` keeps the order events were stored in. ``span`` is the
    class of last_seen - first_seen (gateway/subjects/events.py), so that a window is a few index
    ranges; times are Unix microseconds, an open-ended username ending at ``events.OPEN``."""

    __tablename__ = "subject_events"
    __table_args__ = (
        Index("ix_subject_events_window", "subject_id", "kind", "span", "first_seen"),
        Index("ix_subject_events_expiry", "kind", "last_seen"),
    )
    # INTEGER on SQLite, so that it is the rowid rather than a second key beside it.
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"),
                                                          primary_key=True, autoincrement=True))
    subject_id: str = Field(foreign_key="subjects.id", max_length=64)
    kind: str = Field(max_length=8)
    span: int = Field(sa_column=Column(SmallInteger, nullable=False))
    first_seen: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seen: int = Field(sa_column=Column(BigInteger, nullable=False))
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SubjectIndex(SQLModel, table=True):
    """Keyed blind index: HMAC(index key, kind, normalised value) → subject."""

    __tablename__ = "subject_index"
    kind: str = Field(primary_key=True, max_length=16)
    digest: bytes = Field(sa_column=Column(LargeBinary(32), primary_key=True))
    subject_id: str = Field(foreign_key="subjects.id", index=True, max_length=64)


class SeenToken(SQLModel, table=True):
    """A token ``jti`` already used, kept until well past its expiry (docs/PROTOCOL.md §2)."""

    __tablename__ = "seen_tokens"
    issuer: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, max_length=128)
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))


class LegalRequestRow(SQLModel, table=True):
    """An authority's legal request. ``details`` holds the non-personal fields as JSON (with the
    request's version and its earlier versions, docs/PROTOCOL.md §17.2); the selectors (phone
    numbers, usernames), the free-text justification, the clarification thread and a withdrawal's
    reason are encrypted in ``selectors_sealed``."""

    __tablename__ = "legal_requests"
    id: str = Field(primary_key=True, max_length=64)
    authority_id: str = Field(foreign_key="principals.id", index=True, max_length=64)
    status: str = Field(default="PENDING", max_length=32, index=True)
    details: str = Field(sa_column=Column(Text, nullable=False))
    selectors_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    resolved_subject_ids: str = Field(sa_column=Column(Text, nullable=False))
    unresolved_selectors: int = Field(default=0)
    rejection_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    decided_by: str | None = Field(default=None, max_length=64)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    decided_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class OrderRow(SQLModel, table=True):
    """An order: its exact JCS document and its life-cycle facts. The status is never stored;
    it is computed from the document, the verified approvals, the clock, the revocation and
    the query count (docs/PROTOCOL.md §3)."""

    __tablename__ = "orders"
    id: str = Field(primary_key=True, max_length=64)
    request_id: str = Field(foreign_key="legal_requests.id", index=True, max_length=64)
    authority_id: str = Field(foreign_key="principals.id", index=True, max_length=64)
    document: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(foreign_key="principals.id", max_length=64)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    queries_used: int = Field(default=0)
    # Written by the audit writer alone, with the count (gateway/audit/usage.py): the index of the entry
    # that charged the order last and a MAC over both, so an edited count is never believed.
    usage_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    usage_mac: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32), nullable=True))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    revoked_by: str | None = Field(default=None, max_length=64)
    revoke_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The version of its request the order was drafted on (docs/PROTOCOL.md §17.2); NULL is the first.
    request_version: int | None = Field(default=None, nullable=True)


class OrderApproval(SQLModel, table=True):
    """One reviewer's signature over an order document; re-verified on every use."""

    __tablename__ = "order_approvals"
    order_id: str = Field(foreign_key="orders.id", primary_key=True, max_length=64)
    reviewer_id: str = Field(foreign_key="principals.id", primary_key=True, max_length=64)
    kid: str = Field(max_length=16)
    signature: str = Field(max_length=128)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The request id of the audit entry that recorded it (gateway/audit/grants.py): without that
    # entry in the log, the row counts for nothing.
    audit_request_id: str | None = Field(default=None, max_length=64)


class AuditEntry(SQLModel, table=True):
    """One audit log entry (docs/PROTOCOL.md §7): its exact JCS text and leaf hash, plus copies of a
    few of its fields as indexed columns for filtering. Written only by the audit writer."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        UniqueConstraint("request_id", name="uq_audit_entries_request_id"),
        # With idx last: an order's disclosures past an index are one seek (gateway/audit/usage.py).
        Index("ix_audit_entries_order_decision_idx", "order_id", "decision", "idx"),
        Index("ix_audit_entries_action_order", "action", "order_id"),
    )
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    entry: str = Field(sa_column=Column(Text, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    request_id: str = Field(max_length=64)
    time_us: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    principal: str | None = Field(default=None, max_length=64, index=True)
    order_id: str | None = Field(default=None, max_length=64)
    decision: str = Field(max_length=32, index=True)
    action: str | None = Field(default=None, max_length=32)


class AuditNode(SQLModel, table=True):
    """A completed perfect subtree of the audit Merkle tree (RFC 9162 §2.1.1): level 0 is the leaf
    hash, level k covers leaves [idx·2^k, (idx+1)·2^k). Kept so roots and proofs cost O(log n)."""

    __tablename__ = "audit_nodes"
    level: int = Field(primary_key=True)
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class StateVersion(SQLModel, table=True):
    """Counters bumped in the transaction of every change that can withdraw what a process caches
    (``reviews``: an approval added or removed, a principal suspended or reinstated, a key added or
    retired, an order revoked). Each request reads it by primary key and drops stale caches, so
    every gateway process sharing the database sees a change on its next request."""

    __tablename__ = "state_versions"
    name: str = Field(primary_key=True, max_length=32)
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    """A signed C2SP checkpoint of the audit log at ``tree_size``."""

    __tablename__ = "audit_checkpoints"
    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class AuditSigningKey(SQLModel, table=True):
    """The log's signing keys and the tree sizes each signs (docs/PROTOCOL.md §13): the current
    key's ``until_size`` is NULL. Every checkpoint is stored under the log's lock only if its key is
    here and covers its size, so a process still holding a retired key cannot sign past its end.
    A key that took over records the key before it and ``handover``, its own signature over that
    handover (gateway/audit/key_record.py): the size at which it took over cannot be edited
    without the new private key. This table decides who may sign; what verifies is still decided
    by the keys held (``keys/``)."""

    __tablename__ = "audit_signing_keys"
    public_key: str = Field(primary_key=True, max_length=64)  # base64 Ed25519 public key
    from_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    until_size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    previous_key: str | None = Field(default=None, max_length=64)
    handover: str | None = Field(default=None, max_length=128)  # base64 signature
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class TransparencyReportRow(SQLModel, table=True):
    """A published transparency report (docs/PROTOCOL.md §10): its three files exactly as first
    written. Rows are only ever inserted; a period generated again is a new ``version``."""

    __tablename__ = "transparency_reports"
    period: str = Field(primary_key=True, max_length=32)
    version: int = Field(primary_key=True)
    supersedes: int | None = Field(default=None)
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    banding: str = Field(max_length=200)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    report_json: str = Field(sa_column=Column(Text, nullable=False))
    report_csv: str = Field(sa_column=Column(Text, nullable=False))
    report_html: str = Field(sa_column=Column(Text, nullable=False))


class AuditCosignature(SQLModel, table=True):
    """A witness's cosignature/v1 line on the checkpoint at ``tree_size`` (c2sp.org/tlog-cosignature),
    kept only after it verified with the witness's configured key."""

    __tablename__ = "audit_cosignatures"
    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    witness: str = Field(primary_key=True, max_length=200)
    line: str = Field(sa_column=Column(Text, nullable=False))
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))


class OrderContinuation(SQLModel, table=True):
    """An emergency order's continuation text: its document plus the court order the authority
    attached (docs/PROTOCOL.md §16.1). It continues the order only with reviewers' signatures over it."""

    __tablename__ = "order_continuations"
    order_id: str = Field(foreign_key="orders.id", primary_key=True, max_length=64)
    document: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ContinuationApproval(SQLModel, table=True):
    """One reviewer's signature over an emergency order's continuation text; re-verified on every use."""

    __tablename__ = "order_continuation_approvals"
    order_id: str = Field(foreign_key="order_continuations.order_id", primary_key=True, max_length=64)
    reviewer_id: str = Field(foreign_key="principals.id", primary_key=True, max_length=64)
    kid: str = Field(max_length=16)
    signature: str = Field(max_length=128)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The request id of the audit entry that recorded it (gateway/audit/grants.py): without that
    # entry in the log, the row counts for nothing.
    audit_request_id: str | None = Field(default=None, max_length=64)


class PreservationRow(SQLModel, table=True):
    """A preservation request (docs/PROTOCOL.md §16.2): keep what the platform holds about its
    subjects; it discloses nothing. Selectors are encrypted like a legal request's."""

    __tablename__ = "preservations"
    id: str = Field(primary_key=True, max_length=64)
    authority_id: str = Field(foreign_key="principals.id", index=True, max_length=64)
    status: str = Field(default="PENDING", max_length=16, index=True)
    details: str = Field(sa_column=Column(Text, nullable=False))
    selectors_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    subject_ids: str = Field(sa_column=Column(Text, nullable=False))
    unresolved_selectors: int = Field(default=0)
    requested_until: int = Field(sa_column=Column(BigInteger, nullable=False))
    granted_until: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    extended_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    rejection_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class NoticeSent(SQLModel, table=True):
    """A user notice the platform's messaging system delivered (docs/PROTOCOL.md §16.4)."""

    __tablename__ = "notices_sent"
    id: str = Field(primary_key=True, max_length=64)
    sent_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class EventRow(SQLModel, table=True):
    """A change of an authority's request or order, written in the transaction of the change (the
    outbox, docs/PROTOCOL.md §17.4): ids, kinds, states and times only, never subject data or free text.

    ``entry`` is the request id of the audit entry of the request that made the change: the event is
    published (given its ``feed_seq``, the feed's order) only once that entry is in the log, served,
    so a change undone because its request went unaudited is never announced. ``once_key`` makes an
    event that must happen once per order (activated, lapsing, lapsed, exhausted) unique, whichever
    process or sweep records it. The ``delivery`` columns are the webhook worker's."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("once_key", name="uq_events_once_key"),
        UniqueConstraint("feed_seq", name="uq_events_feed_seq"),
        Index("ix_events_authority_feed", "authority_id", "feed_seq"),
        Index("ix_events_delivery_due", "delivery", "next_attempt_at"),
    )
    id: str = Field(primary_key=True, max_length=64)  # the webhook-id, the same on every retry
    authority_id: str = Field(foreign_key="principals.id", max_length=64)
    kind: str = Field(max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    state: str | None = Field(default=None, max_length=32)
    occurred_at: int = Field(sa_column=Column(BigInteger, nullable=False))  # microseconds
    once_key: str | None = Field(default=None, max_length=200)
    entry: str | None = Field(default=None, max_length=64)
    feed_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # pending: awaiting publication; due: to be POSTed; delivered; failed (gave up); none (no webhook).
    delivery: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_outcome: str | None = Field(default=None, max_length=64)  # an HTTP status or an error's class name
    delivered_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
