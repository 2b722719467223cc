"""The one interface through which the gateway reads subjects, wherever they live.

A source answers two questions and nothing else: which subject a selector names (within what the
caller allows), and one field of one subject within a window, as its docs/PROTOCOL.md §4 value.
:class:`~gateway.subjects.store.SubjectStore` (the embedded, encrypted store) and
:class:`~gateway.subjects.sql_source.SqlSource` (the platform's own database) implement it;
``GATEWAY_SUBJECT_SOURCE`` picks one and ``gateway.services`` builds it. Request resolution,
drafting, disclosure and preservation read through it, so the wire contract (answers, codes, sealed
values, audit entries) is the same whichever source is configured.

A source that cannot answer (down, timing out, answering values of the wrong shape) raises
:class:`~gateway.errors.SourceUnavailable`: the request is refused, audited as refused, nothing of it
is disclosed and the order is not charged.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, TypeAlias

from gateway.subjects.record import FieldValue
from gateway.values.selector import Selector

__all__ = ["SubjectSource", "Window", "resolve_all"]

Window: TypeAlias = tuple[datetime, datetime]
"""A data window (from, until), timezone-aware: an event overlaps it as :mod:`gateway.subjects.record` says."""


class SubjectSource(Protocol):
    def resolve(self, selector: Selector, *, ids_must_exist: bool = True) -> str | None:
        """The subject a selector names, or ``None``. An ``id`` selector names its id when a subject
        has it; with ``ids_must_exist=False`` it names its id as given and the source is not asked,
        for a caller that checks the id against an order's subjects anyway and must not learn whether
        someone has it."""
        ...

    def exists(self, subject_id: str) -> bool:
        """Whether a subject has this id."""
        ...

    def read_field(self, subject_id: str, field: str, window: Window) -> FieldValue | None:
        """The §4 ``value`` of one field of one subject, only what overlaps ``window``; ``None``
        if no subject has this id. Raises ``UnknownSubjectField`` for a field outside
        ``SUBJECT_FIELDS``."""
        ...

    def resolve_all(self, selectors: Iterable[Selector]) -> tuple[list[str], int]:
        """The distinct subjects the selectors name, in the order first named, and how many
        selectors named no subject (what a request's or a hold's reviewers are shown)."""
        ...


def resolve_all(source: SubjectSource, selectors: Iterable[Selector]) -> tuple[list[str], int]:
    """:meth:`SubjectSource.resolve_all` in terms of :meth:`SubjectSource.resolve`."""
    resolved: list[str] = []
    unresolved = 0
    for selector in selectors:
        found = source.resolve(selector)
        if found is None:
            unresolved += 1
        elif found not in resolved:
            resolved.append(found)
    return resolved, unresolved
