"""The header every request to the platform carries, legal request or preservation hold alike: its
selectors, its jurisdiction and its texts, checked once, the same way, with the same words.

Free texts are stripped, must not be empty, hold no NUL (PostgreSQL refuses one in text: a 500)
and stay within their limits; the jurisdiction is an ISO 3166-1 alpha-2 code; a request names at
least one subject and at most ``MAX_SELECTORS``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.errors import BadRequest
from gateway.orders.model import MAX_SELECTORS
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.selector import Selector

__all__ = ["RequestHeader", "check_fields", "check_header", "check_text"]

_COUNTRY = re.compile(r"[A-Z]{2}")


def check_text(value: str, what: str, *, limit: int = 500) -> str:
    """``value`` stripped; ``BAD_REQUEST`` naming ``what`` if empty, with a NUL, or over ``limit``."""
    value = value.strip()
    if not value:
        raise BadRequest(f"{what} must not be empty")
    if "\x00" in value:
        raise BadRequest(f"{what} must not contain NUL characters")
    if len(value) > limit:
        raise BadRequest(f"{what} is longer than {limit} characters")
    return value


@dataclass(frozen=True)
class RequestHeader:
    case_reference: str
    jurisdiction: str
    legal_basis: str


def check_header(*, subjects: Sequence[Selector], jurisdiction: str, case_reference: str,
                 legal_basis: str) -> RequestHeader:
    """The header normalised (jurisdiction upper-cased, texts stripped), or the first ``BAD_REQUEST``."""
    if not subjects:
        raise BadRequest("a request needs at least one subject selector")
    if len(subjects) > MAX_SELECTORS:
        raise BadRequest(f"a request takes at most {MAX_SELECTORS} subject selectors")
    country = jurisdiction.strip().upper()
    if not _COUNTRY.fullmatch(country):
        raise BadRequest("jurisdiction must be an ISO 3166-1 alpha-2 code such as DE")
    return RequestHeader(case_reference=check_text(case_reference, "caseReference", limit=200), jurisdiction=country,
                         legal_basis=check_text(legal_basis, "legalBasis", limit=500))


def check_fields(fields: Sequence[str]) -> list[str]:
    """The field names asked for, each once, in their order; ``BAD_REQUEST`` for none or an unknown one."""
    unique = list(dict.fromkeys(fields))
    if not unique:
        raise BadRequest(f"name at least one field: {', '.join(SUBJECT_FIELDS)}")
    unknown = [f for f in unique if f not in SUBJECT_FIELDS]
    if unknown:
        # Counted, not echoed: whatever a client puts in `fields` may be anything at all.
        raise BadRequest(f"{len(unknown)} unknown field name(s); fields are {', '.join(SUBJECT_FIELDS)}")
    return unique
