"""The disclosable ``Subject`` fields (docs/PROTOCOL.md §5): the names orders grant, policy checks,
the API serves and transparency reports count."""

from __future__ import annotations

from typing import Final

__all__ = ["SUBJECT_FIELDS"]

SUBJECT_FIELDS: Final = ("phoneNumber", "ipAddresses", "devices", "usernameHistory")
"""The disclosable ``Subject`` fields (docs/PROTOCOL.md §5), in schema order."""
