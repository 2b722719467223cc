"""What the ingestion tests share (tests/gateway/subjects/test_ingest*.py): the lines they feed,
the refusals they collect, and a subject's answers as the store gives them and as its record says."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gateway.errors import SubjectLineError
from gateway.subjects.parsing import parse_subject
from gateway.subjects.store import SubjectStore

EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
FIELDS = ("phoneNumber", "ipAddresses", "devices", "usernameHistory")


class Rejects(list[tuple[int, str]]):
    """The ``reject`` callback of an ingestion: the refused lines' numbers and reasons, in order."""

    def __call__(self, line_number: int, reason: str) -> None:
        self.append((line_number, reason))


def jsonl(items: Iterable[dict[str, Any]]) -> list[str | SubjectLineError]:
    """JSON Lines, one line per item (a list ingestion takes: a test may put a decoding error in it)."""
    return [json.dumps(item) + "\n" for item in items]


def answers(store: SubjectStore, subject_id: str) -> dict[str, Any]:
    """Every field of ``subject_id`` as the store answers it, over all time."""
    return {field: store.read_field(subject_id, field, EVERYTHING) for field in FIELDS}


def expected(subject: dict[str, Any]) -> dict[str, Any]:
    """Every field of ``subject`` (an import line's object) as its record answers it, over all time."""
    record = parse_subject(subject)
    return {field: record.field_value(field, EVERYTHING) for field in FIELDS}
