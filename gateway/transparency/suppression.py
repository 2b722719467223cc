"""Complementary suppression: which counts a banded report withholds so that no band can be worked out
from the counts it does publish (docs/PROTOCOL.md §10.2).

A report's counts are tied by sums: a total is the sum of its countries, a figure set's count the
sum over offense categories and over legal processes, ``requests_received`` the sum of granted,
rejected and pending. Banding a small count alone hides nothing when the sum and the other terms are
exact. So the report is audited as an outsider would attack it, and every count that lets a band be
derived exactly makes another count in the same sum withheld, until no derivation is left:

- linear algebra over every sum at once (any combination of sums, such as a total minus its other
  countries, or one figure set's categories against its processes), over the prime field
  ``2**61 - 1``: a band is derived when its unit vector lies in the span of the sums;
- bounds: a band lies in ``[0, N-1]``, a withheld count in ``[N, ∞)`` and an unpublished difference
  in ``[0, ∞)``, and each sum narrows its terms' intervals in turn; a band narrowed to one value is
  derived.

Withheld is chosen deterministically (the smallest exact count in a sum with the derived band, then
by path), so ``gateway transparency verify`` recomputes the same report from the same log.
Distinct-subject counts (``accounts_disclosed``) are only at most the sum of their parts; they are
audited as sums all the same, since subjects are seldom shared and an attacker would assume so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = ["Path", "Publication", "Sum", "protect"]

Path = tuple[str, ...]
_PRIME = 2**61 - 1
_UNBOUNDED = 10**15
_PASSES = 60  # rounds of bound narrowing; each narrows at least one interval or stops


class Publication(Enum):
    EXACT = "exact"
    BANDED = "banded"  # below N: published as the band's label
    WITHHELD = "withheld"  # N or more, published as null so that a band cannot be derived
    UNPUBLISHED = "unpublished"  # a difference no figure states (pending holds...): 0 or more, unknown


@dataclass(frozen=True)
class Sum:
    """``total == sum(parts)`` among the report's counts."""

    total: Path
    parts: tuple[Path, ...]

    @property
    def cells(self) -> tuple[Path, ...]:
        return (self.total, *self.parts)

    def terms(self) -> Iterable[tuple[Path, int]]:
        yield self.total, -1
        for part in self.parts:
            yield part, 1


def protect(values: Mapping[Path, int], sums: Sequence[Sum], below: int,
            unpublished: frozenset[Path] = frozenset()) -> dict[Path, Publication]:
    """How each count is published under threshold ``below``: every count under it banded, and
    enough others withheld that no band follows from the exact counts by the sums. The
    ``unpublished`` counts are never shown: they turn an inequality between figures (the holds
    granted and rejected are at most those received) into a sum, with a term only known to be >= 0."""
    state = {path: Publication.UNPUBLISHED if path in unpublished else
             Publication.BANDED if value < below else Publication.EXACT for path, value in values.items()}
    by_cell: dict[Path, list[Sum]] = {}
    for item in sums:
        for cell in item.cells:
            by_cell.setdefault(cell, []).append(item)
    while True:
        derived = _derived(values, sums, state, below)
        if not derived:
            return state
        withheld = {choice for cell in sorted(derived)
                    if (choice := _complement(cell, values, state, by_cell)) is not None}
        if not withheld:
            # Deny by default: no count near the derived bands is left, so the smallest anywhere.
            exact = [path for path, how in state.items() if how is Publication.EXACT]
            if not exact:
                return state
            withheld = {min(exact, key=lambda path: (values[path], path))}
        for cell in withheld:
            state[cell] = Publication.WITHHELD


def _complement(cell: Path, values: Mapping[Path, int], state: Mapping[Path, Publication],
                by_cell: Mapping[Path, list[Sum]]) -> Path | None:
    """The count to withhold for a derived band: the smallest exact one in a sum with it, else in
    a sum with one of those sums' hidden counts."""
    rings: list[set[Path]] = [{cell}]
    for _ in range(3):
        near = {other for hidden in rings[-1] for item in by_cell.get(hidden, ()) for other in item.cells}
        exact = [other for other in near if state[other] is Publication.EXACT]
        if exact:
            return min(exact, key=lambda other: (values[other], other))
        rings.append({other for other in near if state[other] is not Publication.EXACT} - set().union(*rings))
        if not rings[-1]:
            return None
    return None


def _derived(values: Mapping[Path, int], sums: Sequence[Sum], state: Mapping[Path, Publication],
             below: int) -> set[Path]:
    """The bands an outsider can work out exactly from the exact counts."""
    hidden = {path for path, how in state.items() if how is not Publication.EXACT}
    solved = _solve(values, sums, hidden)
    found = {path for path in solved if state[path] is Publication.BANDED}
    found |= _narrowed(values, sums, state, below, solved)
    return found


def _solve(values: Mapping[Path, int], sums: Sequence[Sum], hidden: set[Path]) -> dict[Path, int | None]:
    """The hidden counts fixed by the sums alone (Gauss-Jordan over GF(p)), with their value
    when it is a whole number the sums give (None when the sums contradict each other, as a sum
    of distinct counts may)."""
    pivots: dict[Path, tuple[dict[Path, int], int]] = {}  # pivot cell -> (row, constant)
    holding: dict[Path, set[Path]] = {}  # cell -> pivots whose row holds it
    for item in sums:
        row: dict[Path, int] = {}
        constant = 0
        for cell, sign in item.terms():
            if cell in hidden:
                row[cell] = (row.get(cell, 0) + sign) % _PRIME
            else:
                constant = (constant - sign * values[cell]) % _PRIME
        row = {cell: c for cell, c in row.items() if c}
        for cell in [c for c in row if c in pivots]:
            if cell not in row:
                continue
            factor = row[cell]
            pivot_row, pivot_constant = pivots[cell]
            for other, c in pivot_row.items():
                row[other] = (row.get(other, 0) - factor * c) % _PRIME
                if not row[other]:
                    del row[other]
            constant = (constant - factor * pivot_constant) % _PRIME
        if not row:
            continue
        lead = min(row)
        inverse = pow(row[lead], _PRIME - 2, _PRIME)
        row = {cell: c * inverse % _PRIME for cell, c in row.items()}
        constant = constant * inverse % _PRIME
        for other in list(holding.get(lead, ())):
            other_row, other_constant = pivots[other]
            factor = other_row.get(lead, 0)
            if not factor:
                continue
            for cell, c in row.items():
                other_row[cell] = (other_row.get(cell, 0) - factor * c) % _PRIME
                if not other_row[cell]:
                    del other_row[cell]
                    holding.get(cell, set()).discard(other)
                else:
                    holding.setdefault(cell, set()).add(other)
            pivots[other] = (other_row, (other_constant - factor * constant) % _PRIME)
        pivots[lead] = (row, constant)
        for cell in row:
            holding.setdefault(cell, set()).add(lead)
    solved: dict[Path, int | None] = {}
    for lead, (row, constant) in pivots.items():
        if len(row) == 1:
            value = constant if constant < _UNBOUNDED else constant - _PRIME
            solved[lead] = value if abs(value) < _UNBOUNDED else None
    return solved


def _narrowed(values: Mapping[Path, int], sums: Sequence[Sum], state: Mapping[Path, Publication], below: int,
              solved: Mapping[Path, int | None]) -> set[Path]:
    """Bands that the intervals of the sums' terms narrow to a single value."""
    low: dict[Path, int] = {}
    high: dict[Path, int] = {}
    for path, how in state.items():
        if how is Publication.EXACT:
            continue
        fixed = solved.get(path)
        if fixed is not None:
            low[path] = high[path] = fixed
        elif how is Publication.BANDED:
            low[path], high[path] = 0, below - 1
        elif how is Publication.UNPUBLISHED:
            low[path], high[path] = 0, _UNBOUNDED
        else:
            low[path], high[path] = below, _UNBOUNDED
    relevant = [item for item in sums if any(cell in low for cell in item.cells)]
    for _ in range(_PASSES):
        changed = False
        for item in relevant:
            terms = list(item.terms())
            # sum(sign * x) == 0; bounds of the whole, then each term's from the others'.
            least = sum(sign * (values[c] if c not in low else (low[c] if sign > 0 else high[c])) for c, sign in terms)
            most = sum(sign * (values[c] if c not in low else (high[c] if sign > 0 else low[c])) for c, sign in terms)
            for cell, sign in terms:
                if cell not in low:
                    continue
                own_least = sign * (low[cell] if sign > 0 else high[cell])
                own_most = sign * (high[cell] if sign > 0 else low[cell])
                # sign * x == -(rest), rest in [least - own_least, most - own_most]
                rest_least, rest_most = least - own_least, most - own_most
                if sign > 0:
                    new_low, new_high = -rest_most, -rest_least
                else:
                    new_low, new_high = rest_least, rest_most
                if new_low > low[cell] and new_low <= high[cell]:
                    low[cell], changed = new_low, True
                if new_high < high[cell] and new_high >= low[cell]:
                    high[cell], changed = new_high, True
        if not changed:
            break
    return {path for path, how in state.items()
            if how is Publication.BANDED and path in low and low[path] == high[path]}
