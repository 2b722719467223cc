"""The values a principal types, checked before anything is signed or sent: RFC 3339 times and
E.164 phone numbers, parsed exactly as the gateway parses them (``gateway.values.times`` and
``gateway.subjects.normalise``; the client may not import the gateway, so it keeps its own copy,
and ``tests/client/test_values.py`` holds both parsers and their messages to each other).

A mistake caught here costs no round trip and no audit entry, and reads as the gateway would have
worded it. The messages never quote the value (a phone number is a selector)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

__all__ = ["PHONE_MESSAGE", "TIME_MESSAGE", "check_phone", "check_time"]

TIME_MESSAGE: Final = "times must be RFC 3339 with Z or an offset, e.g. 2026-09-01T00:00:00Z"
"""The gateway's wording for a time it cannot parse (after the name of the input)."""
PHONE_MESSAGE: Final = "not a valid phone number"
"""The gateway's wording for a phone number it cannot normalise."""

# RFC 3339 §5.6 date-time, as the gateway reads it: Z or a numeric offset, no naive times.
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
# A "+", then digits and the separators people write between them: no vanity letters, extensions
# or tel: URIs, which phonenumbers alone would accept.
_PHONE_TEXT = re.compile(r"\+[0-9 ().\-/]{1,40}")


def _parsed_time(text: str) -> datetime | None:
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        if zulu:
            tz: timezone = UTC
        else:
            if int(off_h) > 23 or int(off_m) > 59:
                return None
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                        tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def check_time(text: str, option: str) -> str:
    """``text`` unchanged if the gateway will read it as an RFC 3339 time; ``ValueError`` naming
    ``option`` otherwise."""
    if _parsed_time(text) is None:
        raise ValueError(f"{option}: {TIME_MESSAGE}")
    return text


def check_phone(text: str, option: str = "--phone") -> str:
    """``text`` unchanged if the gateway can normalise it to E.164 (so it can name a subject at all);
    ``ValueError`` naming ``option`` otherwise."""
    import phonenumbers  # its metadata is large: loaded by the first check, not by every command's help

    stripped = text.strip()
    number: phonenumbers.PhoneNumber | None = None
    if _PHONE_TEXT.fullmatch(stripped):
        try:
            number = phonenumbers.parse(stripped, None)
        except phonenumbers.NumberParseException:
            number = None
    if number is None or number.extension or not phonenumbers.is_valid_number(number):
        raise ValueError(f"{option}: {PHONE_MESSAGE} (E.164 with its + country code)")
    return text
