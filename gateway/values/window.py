"""A half-open interval of UTC times: an order's data window, its validity, a non-disclosure period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.errors import BadRequest
from gateway.values.times import format_time, parse_time

__all__ = ["TimeWindow"]


@dataclass(frozen=True)
class TimeWindow:
    """A half-open interval [start, end) of UTC times."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, start: str, end: str, *, what: str = "window") -> TimeWindow:
        """Both ends as RFC 3339 times; :class:`BadRequest` naming ``what`` unless ``start < end``."""
        try:
            window = cls(parse_time(start), parse_time(end))
        except ValueError:
            raise BadRequest(f"{what}: times must be RFC 3339 with Z or an offset, "
                             "e.g. 2026-09-01T00:00:00Z") from None
        if window.start >= window.end:
            raise BadRequest(f"{what}: 'from' must be before 'until'")
        return window

    def contains(self, other: TimeWindow) -> bool:
        return self.start <= other.start and other.end <= self.end

    def as_document(self) -> dict[str, str]:
        return {"from": format_time(self.start), "until": format_time(self.end)}
