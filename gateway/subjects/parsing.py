"""Parsing one JSON Lines import line into a :class:`~gateway.subjects.record.SubjectRecord`
(the format is drawn in :mod:`gateway.subjects`). A bad line raises
:class:`~gateway.errors.SubjectLineError` naming the line and the field, never the value."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from crypto.canonical import parse_json_object
from crypto.errors import EncodingError
from gateway.errors import InvalidField, SubjectLineError
from gateway.subjects.normalise import USERNAME, normalise_ip, normalise_phone
from gateway.subjects.record import SUBJECT_ID, Device, IpEvent, SubjectRecord, UsernameRecord
from gateway.values.ids import SubjectId
from gateway.values.times import parse_time

__all__ = ["MAX_LINE_CHARS", "EventLine", "device_of", "ip_event_of", "parse_event_line", "parse_subject",
           "parse_subject_line", "username_record_of"]

MAX_LINE_CHARS: Final = 4 * 1024 * 1024
"""Longest import line accepted: far beyond any real subject, short of exhausting memory."""

_MAX_TEXT: Final = 200
# Control characters and lone surrogates (invalid UTF-8 decoded with surrogateescape, or a bare
# "\ud800" JSON escape): refused in free text, which must survive canonical JSON and display.
_BAD_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

_TOP_KEYS: Final = frozenset({"id", "username", "phone", "created_at", "ip_events", "devices",
                              "username_history"})
_IP_KEYS: Final = frozenset({"ip", "port", "first_seen", "last_seen"})
_DEVICE_KEYS: Final = frozenset({"model", "platform", "app", "app_version", "first_seen", "last_seen"})
_HISTORY_KEYS: Final = frozenset({"username", "from", "until"})


def _name(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# The helpers below take (object, where, key) and build the field's name only for an error
# message: an import formats nothing per field on its happy path.


def _object(value: object, where: str, allowed: frozenset[str], required: Iterable[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidField(f"field '{where}' must be an object" if where else "line must be a JSON object")
    # Unknown keys are not quoted: a malformed export could put anything, a phone number even,
    # where a key belongs.
    if not value.keys() <= allowed:
        label = f"field '{where}'" if where else "the line"
        raise InvalidField(f"{label} has a key that is not allowed (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in value:
            raise InvalidField(f"missing field '{_name(where, key)}'")
    return value


def _string(obj: Mapping[str, Any], where: str, key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidField(f"field '{_name(where, key)}' must be a string")
    return value


def _list(obj: Mapping[str, Any], key: str) -> list[object]:
    value = obj[key]
    if not isinstance(value, list):
        raise InvalidField(f"field '{key}' must be a list")
    return value


def _time(obj: Mapping[str, Any], where: str, key: str) -> datetime:
    text = _string(obj, where, key)
    try:
        return parse_time(text)
    except ValueError:
        pass
    raise InvalidField(f"field '{_name(where, key)}' is not an RFC 3339 time with Z or an offset")


def _text(obj: Mapping[str, Any], where: str, key: str) -> str:
    text = _string(obj, where, key)
    if not 1 <= len(text) <= _MAX_TEXT or _BAD_TEXT.search(text):
        raise InvalidField(f"field '{_name(where, key)}' must be 1–{_MAX_TEXT} characters "
                       "without control characters")
    return text


def _username(obj: Mapping[str, Any], where: str, key: str) -> str:
    text = _string(obj, where, key)
    if not USERNAME.fullmatch(text):
        raise InvalidField(f"field '{_name(where, key)}' must be 1–64 characters of A–Z, a–z, 0–9 and _")
    return text


def _span(obj: Mapping[str, Any], where: str, first_key: str, last_key: str) -> tuple[datetime, datetime]:
    first = _time(obj, where, first_key)
    last = _time(obj, where, last_key)
    if first > last:
        raise InvalidField(f"field '{where}': {first_key} is after {last_key}")
    return first, last


def _ip_event(value: object, where: str, seen: dict[str, str]) -> IpEvent:
    obj = _object(value, where, _IP_KEYS, ("ip", "first_seen", "last_seen"))
    raw = _string(obj, where, "ip")
    # A subject's events come from a handful of addresses and ipaddress parsing is among the
    # slowest steps of an import, so each distinct text is parsed once per subject.
    ip = seen.get(raw)
    if ip is None:
        try:
            ip = normalise_ip(raw)
        except ValueError:
            ip = None
        if ip is None:
            raise InvalidField(f"field '{where}.ip' is not a valid IP address")
        seen[raw] = ip
    port = obj.get("port")
    # bool is an int in Python, and JSON true is no port.
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise InvalidField(f"field '{where}.port' must be an integer from 1 to 65535")
    first_seen, last_seen = _span(obj, where, "first_seen", "last_seen")
    return IpEvent(ip, port, first_seen, last_seen)


def _device(value: object, where: str) -> Device:
    obj = _object(value, where, _DEVICE_KEYS, _DEVICE_KEYS)
    first_seen, last_seen = _span(obj, where, "first_seen", "last_seen")
    return Device(_text(obj, where, "model"), _text(obj, where, "platform"), _text(obj, where, "app"),
                  _text(obj, where, "app_version"), first_seen, last_seen)


def _history(value: object, where: str) -> UsernameRecord:
    obj = _object(value, where, _HISTORY_KEYS, ("username", "from"))
    username = _username(obj, where, "username")
    if "until" in obj:
        start, until = _span(obj, where, "from", "until")
        return UsernameRecord(username, start, until)
    return UsernameRecord(username, _time(obj, where, "from"), None)


def ip_event_of(value: object, where: str) -> IpEvent:
    """One IP event in the import shape, checked as an import checks it (the sql source's rows)."""
    return _ip_event(value, where, {})


def device_of(value: object, where: str) -> Device:
    """One device in the import shape, checked as an import checks it."""
    return _device(value, where)


def username_record_of(value: object, where: str) -> UsernameRecord:
    """One username record in the import shape, checked as an import checks it."""
    return _history(value, where)


def _subject(obj: object) -> SubjectRecord:
    top = _object(obj, "", _TOP_KEYS, ("id", "username", "phone", "created_at", "ip_events", "devices",
                                       "username_history"))
    subject_id = _string(top, "", "id")
    if not SUBJECT_ID.fullmatch(subject_id):
        raise InvalidField("field 'id' must be 1–64 characters of A–Z, a–z, 0–9, _ and -")
    username = _username(top, "", "username")
    try:
        phone = normalise_phone(_string(top, "", "phone"))
    except ValueError:
        phone = None
    if phone is None:
        raise InvalidField("field 'phone' is not a valid phone number (E.164 with its + country code)")
    created_at = _time(top, "", "created_at")
    seen: dict[str, str] = {}
    return SubjectRecord(
        id=SubjectId(subject_id),
        username=username,
        phone=phone,
        created_at=created_at,
        ip_events=tuple(_ip_event(v, f"ip_events[{i}]", seen) for i, v in enumerate(_list(top, "ip_events"))),
        devices=tuple(_device(v, f"devices[{i}]") for i, v in enumerate(_list(top, "devices"))),
        username_history=tuple(_history(v, f"username_history[{i}]")
                               for i, v in enumerate(_list(top, "username_history"))),
    )


def parse_subject(obj: object, line_number: int = 1) -> SubjectRecord:
    """Validate and normalise one subject given as parsed JSON (docs/PROTOCOL.md §9 shape).
    Raises :class:`SubjectLineError` naming ``line_number`` and the field."""
    try:
        return _subject(obj)
    except InvalidField as exc:
        reason = exc.reason
    raise SubjectLineError(line_number, reason)


# A key in a line without backslashes: a string's closing quote, then whitespace and a colon. It
# also matches where a string value begins with whitespace and a colon, so it never counts fewer
# keys than the line writes (see _plain_object).
_KEY = re.compile(r'"\s*:')


def _key_count(value: object) -> int | None:
    """How many keys the objects in ``value`` hold together; ``None`` if it holds a float (which
    orjson reads where the standard parser keeps an integer beyond 64 bits, or a float)."""
    keys = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            keys += len(item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is float:
            return None
    return keys


def _plain_object(line: str) -> dict[str, Any] | None:
    """The object of ``line`` read by orjson (a fifth of the standard parser's cost) when that is
    certainly what :func:`parse_json_object` reads; ``None`` says nothing and the caller asks it.

    orjson keeps the last of duplicate keys, where the strict parser refuses the line, so the keys
    are counted: in a line without backslashes every quote opens or closes a string, each key in
    the text is matched by :data:`_KEY` (and a value starting with whitespace and a colon adds one),
    so the count equals the parsed objects' keys only if no key was written twice. Escapes, floats
    (orjson turns an integer beyond 64 bits into one) and every error go to the strict parser,
    which also words the refusal as before."""
    if "\\" in line:
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(value) is not dict:
        return None
    keys = _key_count(value)
    if keys is None or keys != len(_KEY.findall(line)):
        return None
    return value


def _json_line(line: str, line_number: int) -> object:
    if len(line) > MAX_LINE_CHARS:
        raise SubjectLineError(line_number, f"line is longer than {MAX_LINE_CHARS} characters")
    # isspace and isascii: what strip() and the surrogate search answer, without copying or
    # scanning a line in Python's regex engine (an ASCII line holds no surrogate).
    if not line or line.isspace():
        raise SubjectLineError(line_number, "line is empty")
    if not line.isascii() and _SURROGATE.search(line):
        raise SubjectLineError(line_number, "line is not valid UTF-8")
    plain = _plain_object(line)
    if plain is not None:
        return plain
    try:
        return parse_json_object(line, what="line")
    except EncodingError as exc:
        # crypto's messages are fixed texts that never quote the input.
        raise SubjectLineError(line_number, exc.message) from None


def parse_subject_line(line: str, line_number: int = 1) -> SubjectRecord:
    """Parse one JSON Lines line (a trailing newline is fine) into a normalised record.
    Raises :class:`SubjectLineError` naming ``line_number`` and the field, never the value."""
    return parse_subject(_json_line(line, line_number), line_number)


_EVENT_KEYS: Final = {
    "ip": frozenset({"subject", "kind", "ip", "port", "seen"}),
    "device": frozenset({"subject", "kind", "model", "platform", "app", "app_version", "seen"}),
    "username": frozenset({"subject", "kind", "username", "seen"}),
}


@dataclass(frozen=True, slots=True)
class EventLine:
    """One ``append-events`` line: a sighting of an IP address or a device at ``seen``, or the
    subject's username changing to a new one at ``seen`` (the event's ``from``)."""

    line_number: int
    subject: SubjectId
    kind: str
    seen: datetime
    event: IpEvent | Device | UsernameRecord


def _event(obj: object, line_number: int) -> EventLine:
    if not isinstance(obj, dict):
        raise InvalidField("line must be a JSON object")
    kind = obj.get("kind")
    if kind not in _EVENT_KEYS:
        raise InvalidField("field 'kind' must be one of device, ip, username")
    allowed = _EVENT_KEYS[kind]
    top = _object(obj, "", allowed, sorted(allowed - {"port"}))
    subject = _string(top, "", "subject")
    if not SUBJECT_ID.fullmatch(subject):
        raise InvalidField("field 'subject' must be 1–64 characters of A–Z, a–z, 0–9, _ and -")
    seen = _time(top, "", "seen")
    event: IpEvent | Device | UsernameRecord
    if kind == "ip":
        try:
            ip: str | None = normalise_ip(_string(top, "", "ip"))
        except ValueError:
            ip = None
        if ip is None:
            raise InvalidField("field 'ip' is not a valid IP address")
        port = top.get("port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
            raise InvalidField("field 'port' must be an integer from 1 to 65535")
        event = IpEvent(ip, port, seen, seen)
    elif kind == "device":
        event = Device(_text(top, "", "model"), _text(top, "", "platform"), _text(top, "", "app"),
                       _text(top, "", "app_version"), seen, seen)
    else:
        event = UsernameRecord(_username(top, "", "username"), seen, None)
    return EventLine(line_number, SubjectId(subject), kind, seen, event)


def parse_event_line(line: str, line_number: int = 1) -> EventLine:
    """Parse one ``append-events`` line (docs/PROTOCOL.md §9.3). Raises :class:`SubjectLineError`
    naming ``line_number`` and the field, never the value."""
    obj = _json_line(line, line_number)
    try:
        return _event(obj, line_number)
    except InvalidField as exc:
        reason = exc.reason
    raise SubjectLineError(line_number, reason)
