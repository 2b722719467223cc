"""Normalising what identifies a subject: phone numbers to E.164, usernames for lookup, IP
addresses to their compressed canonical text (no zone index). Each raises ``ValueError`` with a
fixed message that never quotes the value."""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Final

import phonenumbers

__all__ = ["USERNAME", "normalise_ip", "normalise_phone", "normalise_username"]

USERNAME: Final = re.compile(r"[A-Za-z0-9_]{1,64}")
"""A username: 1–64 of ``A–Z a–z 0–9 _``."""
# Digits and the separators people write between them, after a mandatory "+": phonenumbers would
# otherwise also accept vanity letters ("+1 800 FLOWERS"), extensions and tel: URIs.
_PHONE_TEXT = re.compile(r"\+[0-9 ().\-/]{1,40}")


def normalise_phone(raw: str) -> str:
    """The E.164 form of an international phone number written with its ``+`` country code and
    digits, spaces, dashes, dots, slashes or parentheses. ``ValueError`` (fixed message) for
    anything else, including numbers ``phonenumbers`` does not consider valid."""
    text = raw.strip()
    number: phonenumbers.PhoneNumber | None = None
    if _PHONE_TEXT.fullmatch(text):
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
    if number is None or number.extension or not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_username(raw: str) -> str:
    """The casefolded username, as it is indexed. ``ValueError`` (fixed message) unless 1–64
    characters of ``A–Z a–z 0–9 _``."""
    if not USERNAME.fullmatch(raw):
        raise ValueError("not a valid username")
    return raw.casefold()


def normalise_ip(raw: str) -> str:
    """The compressed canonical text of an IPv4 or IPv6 address (no zone index).
    ``ValueError`` (fixed message) for anything else."""
    # An IPv4 address already in its canonical dotted-quad form is its own answer: inet_pton reads it
    # and inet_ntop writes it back unchanged only if it is four decimal octets without leading zeros,
    # which ipaddress accepts and writes the same way (at a tenth of ipaddress's cost, the most of an
    # append-events line). Anything else, IPv6 included, is ipaddress's to judge and write.
    if ":" not in raw:  # IPv6 would only pay for inet_pton's refusal
        try:
            if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, raw)) == raw:
                return raw
        except (OSError, ValueError):  # not IPv4, or a NUL or a non-ASCII character in the text
            pass
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        address = None
    if address is None or (isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None):
        raise ValueError("not a valid IP address")
    return str(address)
