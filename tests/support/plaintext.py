"""The plaintext guard: no imported phone number, IP address or username may appear in a
response body, a log record or an error message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.subjects.normalise import normalise_phone


def secrets_of(subjects: Iterable[dict[str, Any]]) -> set[str]:
    """Every plaintext value of the subjects worth guarding, in the forms it could leak in."""
    found: set[str] = set()
    for subject in subjects:
        e164 = normalise_phone(subject["phone"])
        found.update({e164, e164[1:], subject["phone"], subject["username"]})
        found.update(event["ip"] for event in subject["ip_events"])
        found.update(record["username"] for record in subject["username_history"])
    return {value for value in found if len(value) >= 6}


def leaks(texts: Iterable[str], guarded: set[str]) -> list[tuple[str, str]]:
    """(value, excerpt) for each guarded value found in ``texts``."""
    hits = []
    for text in texts:
        for value in guarded:
            at = text.find(value)
            if at >= 0:
                hits.append((value, text[max(0, at - 40):at + 40]))
    return hits
