"""The wire names the client sends and reads: the disclosable fields and the enum values of
``schema.graphql`` (docs/PROTOCOL.md §5). They are the gateway's contract, not its code, so the
client keeps its own copy; ``tests/client/test_wire_names.py`` holds each to the schema file."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "DISCLOSABLE_FIELDS",
    "LegalProcess",
    "OffenseCategory",
    "PreservationStatus",
    "RequestStatus",
    "VerificationMethod",
]

DISCLOSABLE_FIELDS: Final = ("phoneNumber", "ipAddresses", "devices", "usernameHistory")
"""The sealed ``Subject`` fields of docs/PROTOCOL.md §5, in schema order."""


class OffenseCategory(StrEnum):
    """``enum OffenseCategory``."""

    TERRORISM = "TERRORISM"
    CHILD_EXPLOITATION = "CHILD_EXPLOITATION"
    DRUG_TRAFFICKING = "DRUG_TRAFFICKING"
    FRAUD = "FRAUD"
    CYBERCRIME = "CYBERCRIME"
    VIOLENT_CRIME = "VIOLENT_CRIME"
    OTHER = "OTHER"


class LegalProcess(StrEnum):
    """``enum LegalProcess``: the kind of legal process a request rests on."""

    COURT_ORDER = "COURT_ORDER"
    WARRANT = "WARRANT"
    SUBPOENA = "SUBPOENA"
    PRODUCTION_ORDER = "PRODUCTION_ORDER"
    OTHER = "OTHER"


class RequestStatus(StrEnum):
    """``enum RequestStatus``: where a legal request stands."""

    PENDING = "PENDING"
    GRANTED = "GRANTED"
    REJECTED = "REJECTED"
    NEEDS_CLARIFICATION = "NEEDS_CLARIFICATION"
    WITHDRAWN = "WITHDRAWN"


class PreservationStatus(StrEnum):
    """``enum PreservationStatus``: where a preservation request stands."""

    PENDING = "PENDING"
    GRANTED = "GRANTED"
    REJECTED = "REJECTED"


class VerificationMethod(StrEnum):
    """``enum VerificationMethod``: how a reviewer reached the authority back."""

    CALLBACK_KNOWN_NUMBER = "CALLBACK_KNOWN_NUMBER"
    OFFICIAL_DIRECTORY = "OFFICIAL_DIRECTORY"
    LIAISON_OFFICER = "LIAISON_OFFICER"
    IN_PERSON = "IN_PERSON"
    OTHER = "OTHER"
