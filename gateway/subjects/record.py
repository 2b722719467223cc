"""A subject's record and its docs/PROTOCOL.md §4 values: what is sealed in the store, and what one
disclosed field of it is (only the parts that overlap the order's data window)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

import orjson

from gateway.errors import StoreIntegrityError, UnknownSubjectField
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.ids import SubjectId
from gateway.values.times import format_time

__all__ = ["SUBJECT_ID", "Device", "FieldValue", "IpEvent", "SubjectRecord", "UsernameRecord", "encode_document",
           "overlaps"]

SUBJECT_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A subject id: 1–64 of ``A–Z a–z 0–9 _ -``."""
_BLOB_VERSION: Final = 1

FieldValue: TypeAlias = str | list[dict[str, str | int]]
"""What :meth:`SubjectRecord.field_value` returns: the docs/PROTOCOL.md §4 ``value`` of a field."""


def overlaps(start: datetime, end: datetime | None, window: tuple[datetime, datetime] | None) -> bool:
    """Does [start, end] overlap [window_from, window_until)? ``end`` None is open-ended."""
    if window is None:
        return True
    window_from, window_until = window
    return start < window_until and (end is None or end >= window_from)


@dataclass(frozen=True, slots=True)
class IpEvent:
    ip: str
    port: int | None
    first_seen: datetime
    last_seen: datetime

    def to_json(self) -> dict[str, str | int]:
        value: dict[str, str | int] = {"ip": self.ip}
        if self.port is not None:
            value["port"] = self.port
        value["first_seen"] = format_time(self.first_seen)
        value["last_seen"] = format_time(self.last_seen)
        return value


@dataclass(frozen=True, slots=True)
class Device:
    model: str
    platform: str
    app: str
    app_version: str
    first_seen: datetime
    last_seen: datetime

    def to_json(self) -> dict[str, str | int]:
        return {"model": self.model, "platform": self.platform, "app": self.app,
                "app_version": self.app_version, "first_seen": format_time(self.first_seen),
                "last_seen": format_time(self.last_seen)}


@dataclass(frozen=True, slots=True)
class UsernameRecord:
    username: str
    from_: datetime
    until: datetime | None

    def to_json(self) -> dict[str, str | int]:
        value: dict[str, str | int] = {"username": self.username, "from": format_time(self.from_)}
        if self.until is not None:
            value["until"] = format_time(self.until)
        return value


@dataclass(frozen=True, slots=True)
class SubjectRecord:
    """One subject, normalised: ``phone`` in E.164, ``username`` as given, times in UTC."""

    id: SubjectId
    username: str
    phone: str
    created_at: datetime
    ip_events: tuple[IpEvent, ...]
    devices: tuple[Device, ...]
    username_history: tuple[UsernameRecord, ...]

    def field_value(self, field: str, window: tuple[datetime, datetime] | None = None) -> FieldValue:
        """The docs/PROTOCOL.md §4 ``value`` of ``field``.

        List fields keep only the events that overlap ``window`` = (from, until): an event
        [first_seen, last_seen] overlaps [from, until) iff first_seen < until and
        last_seen >= from; a username record without ``until`` is open-ended. ``None`` keeps all.
        ``phoneNumber`` ignores the window. Raises :class:`UnknownSubjectField` for a field not
        in :data:`SUBJECT_FIELDS` and ``ValueError`` for a window of naive datetimes."""
        if window is not None and (window[0].tzinfo is None or window[1].tzinfo is None):
            raise ValueError("the data window must be timezone-aware")
        if field == "phoneNumber":
            return self.phone
        if field == "ipAddresses":
            return [e.to_json() for e in self.ip_events if overlaps(e.first_seen, e.last_seen, window)]
        if field == "devices":
            return [d.to_json() for d in self.devices if overlaps(d.first_seen, d.last_seen, window)]
        if field == "usernameHistory":
            return [u.to_json() for u in self.username_history if overlaps(u.from_, u.until, window)]
        raise UnknownSubjectField(SUBJECT_FIELDS)

    def to_document(self) -> dict[str, Any]:
        """Everything but the id, in the import shape with normalised values: what is sealed."""
        return {
            "v": _BLOB_VERSION,
            "username": self.username,
            "phone": self.phone,
            "created_at": format_time(self.created_at),
            "ip_events": [e.to_json() for e in self.ip_events],
            "devices": [d.to_json() for d in self.devices],
            "username_history": [u.to_json() for u in self.username_history],
        }

    @classmethod
    def from_document(cls, subject_id: str, document: Mapping[str, Any]) -> SubjectRecord:
        """Rebuild a record from :meth:`to_document`'s output (already authenticated by the
        vault, so not re-validated: a phonenumbers upgrade must not make stored subjects
        unreadable). Raises :class:`StoreIntegrityError` if it is not that shape."""
        try:
            if document["v"] != _BLOB_VERSION:
                raise ValueError
            when = datetime.fromisoformat
            return cls(
                id=SubjectId(subject_id),
                username=document["username"],
                phone=document["phone"],
                created_at=when(document["created_at"]),
                ip_events=tuple(IpEvent(e["ip"], e.get("port"), when(e["first_seen"]), when(e["last_seen"]))
                                for e in document["ip_events"]),
                devices=tuple(Device(d["model"], d["platform"], d["app"], d["app_version"],
                                     when(d["first_seen"]), when(d["last_seen"]))
                              for d in document["devices"]),
                username_history=tuple(
                    UsernameRecord(u["username"], when(u["from"]), when(u["until"]) if "until" in u else None)
                    for u in document["username_history"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            pass
        raise StoreIntegrityError()


def encode_document(document: Mapping[str, Any]) -> bytes:
    """The bytes that are sealed: RFC 8785 canonical JSON of :meth:`SubjectRecord.to_document`.

    For these documents ``json.dumps`` with sorted keys, no whitespace and raw UTF-8 produces
    exactly the JCS bytes (``crypto.canonical.canonical_json``) at a fifth of the cost, which is
    most of an import's time: keys are ASCII (so code-point and UTF-16 order agree), values are
    only strings and integers (no floats to format), and import refused the control characters
    and lone surrogates whose escaping could differ. A test pins the equality.

    orjson with sorted keys writes the same bytes again at a twentieth of the cost (four of these a
    subject in an upsert); what it would write otherwise or refuses (an integer beyond 64 bits, a
    datetime, a str subclass, a lone surrogate) it leaves to ``json.dumps``, which answers as before."""
    try:
        return orjson.dumps(document, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        pass
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_ORJSON_OPTIONS: Final = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                          | orjson.OPT_PASSTHROUGH_SUBCLASS)
