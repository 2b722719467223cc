"""A report's published figures from its exact ones under threshold banding (docs/PROTOCOL.md §10.2).

Every count below N is published as the band's label;
:func:`gateway.transparency.suppression.protect` then withholds (null) enough other counts that no
band follows from the rest by the report's sums. A share is published only when its numerator and
its denominator are both published exactly: else the share times the denominator would give a band
(or a withheld count) back. The requests under non-disclosure, a share's numerator that is no figure
of its own, are counted and protected like any count, and the inequalities between figures enter as
sums with an unpublished difference. A median is withheld when the set it is over may hold fewer
than N requests by what is published: the first disclosures' when ``requests_produced`` is banded,
the decisions' when both ``requests_granted`` and ``requests_rejected`` are; so whether a median is
null tells nothing the counts do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.transparency.suppression import Path, Publication, Sum, protect

__all__ = ["NON_DISCLOSURE", "band"]

NON_DISCLOSURE = "_requests_under_non_disclosure"
"""The hidden count behind ``share_under_non_disclosure``; never published."""

_RATIOS = frozenset({"share_produced", "share_under_non_disclosure", "median_hours_to_decision",
                     "median_hours_to_first_disclosure"})
_BLOCKS = ("by_offense_category", "by_legal_process")
_STATUSES = ("requests_granted", "requests_rejected", "requests_pending")


def band(exact: Mapping[str, Any], below: int, label: str, count_keys: Sequence[str], *,
         complementary: bool = True) -> dict[str, Any]:
    """``{"total", "countries"}`` as published: exact when ``below`` is 0 or 1, else banded and,
    when ``complementary``, protected (else each count banded alone, as reports without the
    banding document's ``"suppression"`` were published)."""
    sets: dict[Path, Mapping[str, Any]] = {("total",): exact["total"]}
    sets.update({("countries", code): figures for code, figures in exact["countries"].items()})
    state: dict[Path, Publication] = {}
    if below > 1 and not complementary:
        alone = {prefix: _publish(figures, prefix, _alone(figures, prefix, below), label)
                 for prefix, figures in sets.items()}
        for shown in alone.values():
            if shown["requests_received"] == label:
                shown.update(dict.fromkeys(_RATIOS))
        return _report(alone)
    if below > 1:
        values: dict[Path, int] = {}
        for prefix, figures in sets.items():
            _counts(figures, prefix, values)
        differences = _differences(sets, count_keys)
        sums = [item for item, _ in differences]
        values.update({item.parts[-1]: value for item, value in differences})
        sums += _sums(sets, values, count_keys)
        state = protect(values, sums, below, frozenset(item.parts[-1] for item in sums[:len(differences)]))
    published = {prefix: _publish(figures, prefix, state, label) for prefix, figures in sets.items()}
    if below > 1:
        for prefix, figures in published.items():
            _ratios(figures, prefix, state)
    return _report(published)


def _report(published: Mapping[Path, dict[str, Any]]) -> dict[str, Any]:
    return {"total": published[("total",)],
            "countries": {prefix[1]: figures for prefix, figures in published.items() if prefix[0] == "countries"}}


def _alone(figures: Mapping[str, Any], prefix: Path, below: int) -> dict[Path, Publication]:
    values: dict[Path, int] = {}
    _counts(figures, prefix, values)
    return {path: Publication.BANDED if value < below else Publication.EXACT for path, value in values.items()}


def _counts(figures: Mapping[str, Any], prefix: Path, into: dict[Path, int]) -> None:
    for key, value in figures.items():
        if key in _RATIOS:
            continue
        if isinstance(value, Mapping):
            _counts(value, (*prefix, key), into)
        elif isinstance(value, int) and not isinstance(value, bool):
            into[(*prefix, key)] = value


def _differences(sets: Mapping[Path, Mapping[str, Any]], count_keys: Sequence[str]) -> list[tuple[Sum, int]]:
    """The inequalities between figures, each as a sum whose last term is an unpublished
    difference (with its value): holds received are granted, rejected or pending; holds granted are
    extended or not; requests received were withdrawn or not, and amended or not; orders granted
    expired unused, were used up or neither; and a set's requests are its emergencies' and the rest
    (a block of its own, with statuses that add up)."""
    out: list[tuple[Sum, int]] = []
    for prefix, figures in sets.items():
        holds, emergency = figures["preservations"], figures["emergency"]
        hold = (*prefix, "preservations")
        out.append((Sum((*hold, "received"), ((*hold, "granted"), (*hold, "rejected"), (*hold, "_pending"))),
                    holds["received"] - holds["granted"] - holds["rejected"]))
        out.append((Sum((*hold, "granted"), ((*hold, "extended"), (*hold, "_not_extended"))),
                    holds["granted"] - holds["extended"]))
        out.append((Sum((*prefix, "orders_granted"), ((*prefix, "orders_expired_unused"), (*prefix, "orders_exhausted"),
                                                       (*prefix, "_orders_otherwise"))),
                    figures["orders_granted"] - figures["orders_expired_unused"] - figures["orders_exhausted"]))
        # Withdrawn and amended requests are among those received, counted where they stood.
        for key in ("requests_withdrawn", "requests_amended"):
            out.append((Sum((*prefix, "requests_received"), ((*prefix, key), (*prefix, f"_not{key[8:]}"))),
                        figures["requests_received"] - figures[key]))
        rest = (*prefix, "_not_emergency")
        out += [(Sum((*prefix, key), ((*prefix, "emergency", key), (*rest, key))), figures[key] - emergency[key])
                for key in count_keys]
    return out


def _sums(sets: Mapping[Path, Mapping[str, Any]], values: Mapping[Path, int], count_keys: Sequence[str]) -> list[Sum]:
    """Every sum a reader can form: statuses, categories and processes within a figure set, and
    countries adding up to the total for every count."""
    sums: list[Sum] = []
    for prefix, figures in sets.items():
        blocks = [prefix, (*prefix, "emergency"), (*prefix, "_not_emergency")]
        blocks += [(*prefix, block, value) for block in _BLOCKS for value in figures[block]]
        sums += [Sum((*b, "requests_received"), tuple((*b, status) for status in _STATUSES)) for b in blocks]
        for block in _BLOCKS:
            sums += [Sum((*prefix, key), tuple((*prefix, block, value, key) for value in figures[block]))
                     for key in count_keys]
    countries = [prefix for prefix in sets if prefix[0] == "countries"]
    if countries:
        sums += [Sum(path, tuple((*country, *path[1:]) for country in countries))
                 for path in values if path[0] == "total"]
    return sums


def _publish(figures: Mapping[str, Any], prefix: Path, state: Mapping[Path, Publication], label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if key == NON_DISCLOSURE:
            continue
        path = (*prefix, key)
        if isinstance(value, Mapping):
            out[key] = _publish(value, path, state, label)
        else:
            how = state.get(path, Publication.EXACT)
            out[key] = value if how is Publication.EXACT else label if how is Publication.BANDED else None
    return out


def _ratios(figures: dict[str, Any], prefix: Path, state: Mapping[Path, Publication]) -> None:
    def exact(key: str) -> bool:
        return state[(*prefix, key)] is Publication.EXACT

    def banded(key: str) -> bool:
        return state[(*prefix, key)] is Publication.BANDED

    if not (exact("requests_produced") and exact("requests_received")):
        figures["share_produced"] = None
    if not (exact(NON_DISCLOSURE) and exact("requests_received")):
        figures["share_under_non_disclosure"] = None
    if banded("requests_produced"):
        figures["median_hours_to_first_disclosure"] = None
    if banded("requests_granted") and banded("requests_rejected"):
        figures["median_hours_to_decision"] = None
