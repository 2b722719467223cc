"""Report periods: a calendar year, half, quarter or month, or any span of whole UTC days.

Names are what URLs and the store use: ``2026``, ``2026-H2``, ``2026-Q3``, ``2026-07``, and
``2026-07-01..2026-10-01`` for a span (``until`` exclusive). A request counts in the period in
which it was submitted: ``from <= submission time < until``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from gateway.errors import BadRequest

__all__ = ["Period", "parse_period", "span"]

_YEAR = re.compile(r"(\d{4})")
_HALF = re.compile(r"(\d{4})-H([12])")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_SPAN = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")
_MAX_NAME = 32
_FORMS = "a period is YYYY, YYYY-H1|H2, YYYY-Q1..Q4, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD"


@dataclass(frozen=True)
class Period:
    name: str
    start: datetime  # inclusive
    end: datetime  # exclusive

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def as_document(self) -> dict[str, str]:
        return {"name": self.name, "from": _rfc3339(self.start), "until": _rfc3339(self.end)}


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _month_start(year: int, month: int) -> datetime:
    # Month 13 is January of the next year, so every period's end is a month start too.
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def _midnight(text: str, what: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{what} must be a date YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def span(start: str, until: str) -> Period:
    """The period of whole UTC days ``[start, until)``; :class:`BadRequest` unless start < until."""
    first, end = _midnight(start, "from"), _midnight(until, "until")
    if end <= first:
        raise BadRequest("the period's until must be after its from")
    return Period(f"{first.date().isoformat()}..{end.date().isoformat()}", first, end)


def parse_period(name: str) -> Period:
    """The period a name denotes; :class:`BadRequest` for any other text (the message never quotes it)."""
    if len(name) > _MAX_NAME:
        raise BadRequest(_FORMS)
    try:
        return _parse(name)
    except ValueError:  # year 0000 and the like: no datetime holds its bounds
        raise BadRequest(_FORMS) from None


def _parse(name: str) -> Period:
    if match := _YEAR.fullmatch(name):
        year = int(match.group(1))
        return Period(name, _month_start(year, 1), _month_start(year, 13))
    if match := _HALF.fullmatch(name):
        year, half = int(match.group(1)), int(match.group(2))
        return Period(name, _month_start(year, 6 * half - 5), _month_start(year, 6 * half + 1))
    if match := _QUARTER.fullmatch(name):
        year, quarter = int(match.group(1)), int(match.group(2))
        return Period(name, _month_start(year, 3 * quarter - 2), _month_start(year, 3 * quarter + 1))
    if match := _MONTH.fullmatch(name):
        year, month = int(match.group(1)), int(match.group(2))
        return Period(name, _month_start(year, month), _month_start(year, month + 1))
    if match := _SPAN.fullmatch(name):
        return span(match.group(1), match.group(2))
    raise BadRequest(_FORMS)
