"""The ids the gateway issues: every kind with its prefix and its random length, declared here and
minted by :func:`new_id`, so that no module invents an id format of its own; and ``SubjectId``,
a ``NewType`` so that a subject id cannot be passed where another text is meant.

``LEGAL_REQUEST`` is ``lrq``: a legal request's id used to share ``req_`` with the HTTP request ids
of §7 (``extensions.audit.request_id``). Ids issued before stay valid: an id is looked up as the
opaque text it is, and nothing checks its prefix.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Final, NewType

__all__ = [
    "EVENT",
    "HTTP_REQUEST",
    "KEY_REVOCATION",
    "LEGAL_REQUEST",
    "NOTICE_RUN",
    "ORDER",
    "PRESERVATION",
    "RATE_LIMIT_SUMMARY",
    "RETENTION_RUN",
    "SUBJECT_DELETION",
    "IdKind",
    "SubjectId",
    "is_gateway_id",
    "new_id",
]

SubjectId = NewType("SubjectId", str)


@dataclass(frozen=True)
class IdKind:
    """What an id names: its ``prefix`` and how many random bytes follow it (as hex)."""

    prefix: str
    random_bytes: int


ORDER: Final = IdKind("ord", 10)
LEGAL_REQUEST: Final = IdKind("lrq", 10)
PRESERVATION: Final = IdKind("prs", 10)
# An event of the outbox, its Standard Webhooks ``webhook-id`` (the spec's own examples use ``msg_``).
EVENT: Final = IdKind("msg", 12)
# The request ids of audit entries (docs/PROTOCOL.md §7 ``request_id``), by what wrote the entry.
HTTP_REQUEST: Final = IdKind("req", 12)
RATE_LIMIT_SUMMARY: Final = IdKind("rl", 12)
NOTICE_RUN: Final = IdKind("ntc", 12)
RETENTION_RUN: Final = IdKind("ret", 12)
KEY_REVOCATION: Final = IdKind("krv", 12)
SUBJECT_DELETION: Final = IdKind("del", 12)

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def new_id(kind: IdKind) -> str:
    """``PREFIX_`` and random hex digits: unguessable, so an id names nothing to whoever lacks it."""
    return f"{kind.prefix}_{secrets.token_hex(kind.random_bytes)}"


def is_gateway_id(text: str) -> bool:
    """Whether ``text`` has the shape of an id the gateway issues (requests, orders). Anything else
    names nothing and must never reach the database: PostgreSQL refuses a NUL in text (a 500), and
    a token's ``ord`` goes into the audit entry."""
    return _ID.fullmatch(text) is not None
