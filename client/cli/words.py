"""Plain words for human output: counts with their noun in the right number, and values as a
person reads them rather than as Python prints them (no ``None``, ``False`` or ``['devices']``).
The ``--json`` outputs never go through here: they keep the wire's values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["NOTHING", "plain", "plural"]

NOTHING: Final = "-"
"""What an absent value reads as."""

_VOWELS = frozenset("aeiou")


def _plural_of(noun: str) -> str:
    # The few English rules the nouns of this program need: entry → entries, key → keys, box → boxes.
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in _VOWELS:
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun`` in the number it takes: "1 approval", "0 approvals", "2 entries".
    ``many`` gives an irregular plural; in a phrase ("sealed value") only the last word changes."""
    if count == 1:
        return f"{count} {noun}"
    if many is not None:
        return f"{count} {many}"
    head, _, last = noun.rpartition(" ")
    return f"{count} {head + ' ' if head else ''}{_plural_of(last)}"


def plain(value: object, *, empty: str = NOTHING) -> str:
    """``value`` as words: absent as ``empty``, booleans as yes/no, lists joined by commas (``empty``
    when there are none), mappings as ``key: value`` pairs, anything else as its text."""
    if value is None:
        return empty
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(plain(item) for item in value) if value else empty
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {plain(item)}" for key, item in value.items()) if value else empty
    return str(value)
