"""RFC 3339 times (RFC 3339 §5.6), parsed strictly and written in the gateway's forms.

Parsed with ``Z`` or a numeric offset (no naive times; lower-case ``t``/``z`` allowed as §5.6
permits; fractions beyond microseconds truncated) and converted to UTC. Written back as

- :func:`format_time`: ``YYYY-MM-DDTHH:MM:SSZ``, with ``.ffffff`` (always six digits) before the
  ``Z`` only when the microseconds are not zero: the form that leaves the gateway in sealed values
  and GraphQL answers (docs/PROTOCOL.md §4);
- :func:`rfc3339_us`: always with microseconds, as audit entries carry times (§7);
- :func:`format_seconds`: to the second, for generated data and the demo's inputs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["EPOCH", "epoch_micros", "format_seconds", "format_time", "parse_rfc3339_us", "parse_time", "rfc3339_us",
           "rfc3339_us_micros"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)

# RFC 3339 §5.6 date-time. The fraction is captured whole and truncated to microseconds.
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # \d would otherwise match any Unicode digit, and int() would read them
)
_RFC3339_US = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def parse_time(text: str) -> datetime:
    """An RFC 3339 date-time with ``Z`` or an offset, as an aware UTC datetime.

    Raises ``ValueError`` with a fixed message (never the text) for anything else: naive times,
    other ISO 8601 forms ``datetime.fromisoformat`` would accept, out-of-range fields."""
    match = _TIME.fullmatch(text)
    result: datetime | None = None
    if match is not None and len(text) == 20 and text[10] == "T" and text[19] == "Z":
        # The common "YYYY-MM-DDTHH:MM:SSZ": the regex fixed the shape, and the C fromisoformat
        # checks the ranges several times faster than the general path below.
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            result = None
    elif match is not None:
        year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        try:
            if zulu:
                tz: timezone = UTC
            else:
                if int(off_h) > 23 or int(off_m) > 59:
                    raise ValueError
                offset = timedelta(hours=int(off_h), minutes=int(off_m))
                tz = timezone(-offset if sign == "-" else offset)
            local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                             tzinfo=tz)
            result = local.astimezone(UTC)
        except (ValueError, OverflowError):
            result = None
    # Raised outside the except block so no library exception (which may quote the text) is
    # chained onto ours.
    if result is None:
        raise ValueError("not an RFC 3339 time with Z or an offset")
    return result


def format_time(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, with ``.ffffff`` only when microseconds are not zero."""
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
    # isoformat() of a UTC datetime ends in "+00:00", pads the year to four digits and adds
    # ".ffffff" exactly when microsecond != 0: the documented format once the suffix is swapped.
    return value.isoformat()[:-6] + "Z"


def rfc3339_us(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and ``Z``, as audit entries carry it. A naive datetime is
    taken to be UTC already; an aware one is converted, so the ``Z`` is never a lie."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339_us(text: str) -> datetime:
    """The inverse of :func:`rfc3339_us`; raise ``ValueError`` for any other form."""
    return _naive_rfc3339_us(text).replace(tzinfo=UTC)


def rfc3339_us_micros(text: str) -> int:
    """:func:`epoch_micros` of :func:`parse_rfc3339_us` in one step, for `audit verify`, which
    derives every entry's ``time_us`` column: the same checks, without the aware datetime."""
    return (_naive_rfc3339_us(text) - _NAIVE_EPOCH) // _MICROSECOND


def _naive_rfc3339_us(text: str) -> datetime:
    # The exact shape first, then the (C, ten times faster than strptime) ISO parser for the
    # calendar: `audit verify` runs this once per entry.
    if not isinstance(text, str) or not _RFC3339_US.fullmatch(text):
        raise ValueError("audit time must be YYYY-MM-DDTHH:MM:SS.ffffffZ")
    return datetime.fromisoformat(text[:-1])


def format_seconds(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of an aware UTC ``value``, the fraction dropped."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch (a naive ``moment`` is taken to be UTC), as the audit
    table's ``time_us`` column holds them."""
    # Integer arithmetic: timestamp() * 1e6 goes through a float and can be off by a microsecond.
    # The one-microsecond divisor is the module's constant: building it each call was two thirds
    # of the cost, and ingestion calls this twice an event.
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return (moment - EPOCH) // _MICROSECOND
