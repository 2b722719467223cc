"""Synthetic subjects for demos, tests and benchmarks, in the docs/PROTOCOL.md §9 import shape.

Everything comes from one ``random.Random(seed)``, so the same seed (and the same phonenumbers
metadata) gives the same subjects. Nothing here is about a real person:

- IP addresses come only from the documentation ranges (RFC 5737: 192.0.2.0/24, 198.51.100.0/24,
  203.0.113.0/24; RFC 3849: 2001:db8::/32).
- Phone numbers are valid for their country per ``phonenumbers`` (so the importer accepts them),
  built from the library's example mobile number of each country with the trailing digits
  randomised. They are plausible, not reserved: do not dial them.
- Events fall between 2026-01-01 and 2026-11-20 (UTC).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import phonenumbers

from gateway.values.times import format_seconds

__all__ = ["EVENTS_FROM", "EVENTS_UNTIL", "generate_subjects"]

EVENTS_FROM: Final = datetime(2026, 1, 1, tzinfo=UTC)
EVENTS_UNTIL: Final = datetime(2026, 11, 20, tzinfo=UTC)

_REGIONS: Final = ("DE", "FR", "GB", "US", "NL", "BR", "IN", "JP", "ES", "IT", "PL", "SE", "NG", "AU")
_RANDOM_DIGITS: Final = 7

_IPV4_NETS: Final = ("192.0.2", "198.51.100", "203.0.113")

_ADJECTIVES: Final = ("quiet", "amber", "rapid", "lunar", "mossy", "brave", "stormy", "velvet", "cobalt",
                      "tidal", "silent", "golden", "crimson", "polar", "misty", "rustic", "neon", "solar")
_NOUNS: Final = ("otter", "falcon", "harbor", "comet", "willow", "lynx", "meadow", "quartz", "raven",
                 "cedar", "pixel", "glacier", "badger", "ember", "nomad", "heron", "canyon", "marble")

_DEVICES: Final = (
    ("Pixel 8", "Android 15", "Messenger for Android", ("6.12.3", "6.13.0", "6.14.1")),
    ("Galaxy S24", "Android 14", "Messenger for Android", ("6.11.2", "6.12.3", "6.14.1")),
    ("Redmi Note 13", "Android 14", "Messenger for Android", ("6.10.0", "6.12.3")),
    ("iPhone 15", "iOS 18.1", "Messenger for iOS", ("6.12.0", "6.13.2", "6.14.0")),
    ("iPhone 13 mini", "iOS 17.6", "Messenger for iOS", ("6.9.4", "6.12.0")),
    ("iPad Air", "iPadOS 18.0", "Messenger for iOS", ("6.13.2",)),
    ("ThinkPad X1 Carbon", "Linux x86_64", "Messenger Desktop", ("3.4.1", "3.5.0")),
    ("MacBook Air M3", "macOS 15.1", "Messenger Desktop", ("3.4.1", "3.5.0")),
    ("Surface Laptop 5", "Windows 11", "Messenger Desktop", ("3.3.9", "3.5.0")),
    ("Firefox 132", "Windows 11", "Messenger Web", ("2026.10", "2026.11")),
)



def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(seconds + 1))


def _example_mobile(region: str) -> tuple[int, str]:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None or example.country_code is None:  # pragma: no cover - metadata for these exists
        raise LookupError(f"phonenumbers has no example mobile number for {region}")
    return example.country_code, str(example.national_number)


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        country_code, national = _example_mobile(rng.choice(_REGIONS))
        prefix = national[: max(2, len(national) - _RANDOM_DIGITS)]
        digits = prefix + "".join(str(rng.randrange(10)) for _ in range(len(national) - len(prefix)))
        number = phonenumbers.parse(f"+{country_code}{digits}", None)
        if not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 in used:
            continue
        used.add(e164)
        # Exports write numbers both ways; the importer normalises them to E.164.
        style = phonenumbers.PhoneNumberFormat.E164 if rng.random() < 0.6 else \
            phonenumbers.PhoneNumberFormat.INTERNATIONAL
        return str(phonenumbers.format_number(number, style))


def _name(rng: random.Random) -> str:
    adjective, noun, number = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.randrange(10, 100_000)
    if rng.random() < 0.5:
        return f"{adjective}_{noun}{number}"
    return f"{adjective.capitalize()}{noun.capitalize()}{number}"


def _username(rng: random.Random, used: set[str]) -> str:
    while True:
        name = _name(rng)
        if name.casefold() not in used:
            used.add(name.casefold())
            return name


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"{rng.choice(_IPV4_NETS)}.{rng.randrange(1, 255)}"
    groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))
    return f"2001:db8:{groups}"


def _span(rng: random.Random, max_days: float) -> tuple[str, str]:
    first = _between(rng, EVENTS_FROM, EVENTS_UNTIL)
    last = min(first + timedelta(seconds=int(rng.expovariate(1.0) * max_days * 86_400 / 3)), EVENTS_UNTIL)
    return format_seconds(first), format_seconds(last)


def _subject(rng: random.Random, ids: set[str], phones: set[str], names: set[str],
             ip_events: int) -> dict[str, Any]:
    while True:
        subject_id = f"sub_{rng.getrandbits(48):012x}"
        if subject_id not in ids:
            ids.add(subject_id)
            break
    username = _username(rng, names)
    phone = _phone(rng, phones)
    created_at = _between(rng, EVENTS_FROM - timedelta(days=6 * 365), EVENTS_FROM)

    # A few addresses per subject (home, mobile, work), seen again and again.
    addresses = [(_ip(rng), rng.random() < 0.7) for _ in range(rng.randint(2, 5))]
    events: list[dict[str, Any]] = []
    for _ in range(ip_events):
        ip, with_port = rng.choice(addresses)
        first_seen, last_seen = _span(rng, 2)
        event: dict[str, Any] = {"ip": ip}
        if with_port:
            event["port"] = rng.randrange(1024, 65536)
        event.update(first_seen=first_seen, last_seen=last_seen)
        events.append(event)
    events.sort(key=lambda e: e["first_seen"])

    devices: list[dict[str, Any]] = []
    for model, platform, app, versions in rng.sample(_DEVICES, rng.randint(1, 3)):
        first_seen, last_seen = _span(rng, 120)
        devices.append({"model": model, "platform": platform, "app": app, "app_version": rng.choice(versions),
                        "first_seen": first_seen, "last_seen": last_seen})

    # Earlier names end where the next begins; the last record is the current name, open-ended.
    changes = sorted(_between(rng, EVENTS_FROM, EVENTS_UNTIL) for _ in range(rng.randint(0, 2)))
    starts = [created_at, *changes]
    history: list[dict[str, Any]] = []
    for i, start in enumerate(starts):
        if i == len(starts) - 1:
            history.append({"username": username, "from": format_seconds(start)})
        else:
            history.append({"username": _name(rng), "from": format_seconds(start),
                            "until": format_seconds(starts[i + 1])})

    return {"id": subject_id, "username": username, "phone": phone, "created_at": format_seconds(created_at),
            "ip_events": events, "devices": devices, "username_history": history}


def generate_subjects(count: int, *, seed: int = 7, ip_events: int = 20) -> Iterator[dict[str, Any]]:
    """``count`` synthetic subjects as import-shaped dicts, deterministic for ``seed``.

    Ids, phone numbers (as E.164) and usernames (casefolded) are unique within one call."""
    if count < 0 or ip_events < 0:
        raise ValueError("count and ip_events must not be negative")
    # Reproducible on purpose: these are demo data, not secrets.
    rng = random.Random(seed)  # noqa: S311
    ids: set[str] = set()
    phones: set[str] = set()
    names: set[str] = set()
    for _ in range(count):
        yield _subject(rng, ids, phones, names, ip_events)
