"""The ids the gateway issues, as ``NewType``s so that one cannot be passed where another is meant,
and the prefixes new ids carry.

``LEGAL_REQUEST_PREFIX`` is ``lrq``: a legal request's id used to share ``req_`` with the HTTP
request ids of §7 (``extensions.audit.request_id``). Ids issued before stay valid: an id is looked
up as the opaque text it is, and nothing checks its prefix.
"""

from __future__ import annotations

import re
import secrets
from typing import Final, NewType

__all__ = [
    "LEGAL_REQUEST_PREFIX",
    "ORDER_PREFIX",
    "LegalRequestId",
    "OrderId",
    "PrincipalId",
    "SubjectId",
    "is_gateway_id",
    "new_id",
]

OrderId = NewType("OrderId", str)
LegalRequestId = NewType("LegalRequestId", str)
SubjectId = NewType("SubjectId", str)
PrincipalId = NewType("PrincipalId", str)

ORDER_PREFIX: Final = "ord"
LEGAL_REQUEST_PREFIX: Final = "lrq"

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def new_id(prefix: str) -> str:
    """``PREFIX_`` and 20 random hex digits: unguessable, so an id names nothing to whoever lacks it."""
    return f"{prefix}_{secrets.token_hex(10)}"


def is_gateway_id(text: str) -> bool:
    """Whether ``text`` has the shape of an id the gateway issues (requests, orders). Anything else
    names nothing and must never reach the database: PostgreSQL refuses a NUL in text (a 500), and
    a token's ``ord`` goes into the audit entry."""
    return _ID.fullmatch(text) is not None
