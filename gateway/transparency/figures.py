"""The figures of a transparency report, as a pure function of audit entry documents (§10.2).

Feed every entry of the log up to the report's checkpoint, in index order, to :class:`Tally`;
:meth:`Tally.figures` then gives ``{"as_of", "total", "countries"}``. Nothing else goes in: no
database, no clock. ``gateway transparency report`` and ``gateway transparency verify`` both run
exactly this over the same entries, which is what makes a report provable.

Only entries of served requests count (``decision`` ``served`` or ``disclosed``, the principal
verified): a refused request's changes were undone. A request counts in the period in which it was
submitted; what became of it (granted, rejected, disclosed, its orders revoked or used up) counts
as of the checkpoint, whenever it happened. ``as_of`` is the time of the last entry covered.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.errors import FiguresError
from gateway.orders.model import LEGAL_PROCESSES, OFFENSE_CATEGORIES
from gateway.transparency.banded import NON_DISCLOSURE, band
from gateway.transparency.facts import CONVERSATION_KINDS, LIFECYCLE_KINDS, REQUEST_KINDS, FactKind
from gateway.transparency.period import Period
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.times import parse_rfc3339_us, rfc3339_us

__all__ = ["COUNT_KEYS", "Banding", "Tally", "compute_figures"]

COUNT_KEYS = ("requests_received", "requests_granted", "requests_rejected", "requests_pending",
              "requests_produced", "accounts_specified", "accounts_disclosed", "requests_withdrawn",
              "requests_amended")
"""The counts every figure set has, also per offense category, legal process and for emergencies."""

_COUNTED = frozenset({"served", "disclosed"})
# Retention runs and notices carry no verified principal, so only these reach a tally.


@dataclass(frozen=True)
class Banding:
    """Small counts: with ``below`` N > 1, every count under N is published as the band ``"0-(N-1)"``
    (zero too, or the band would say "not zero"), and what would let a band be worked out from the
    rest is withheld (:mod:`gateway.transparency.banded`). ``below`` 0 publishes exact counts.

    ``complementary`` False is the banding of counts alone, which withholds nothing else but the
    share and medians of a set with fewer than N requests: a band may then follow from the rest.
    Only a report whose banding document lacks ``"suppression"`` is recomputed so, by ``verify``."""

    below: int = 0
    complementary: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.below, bool) or not isinstance(self.below, int) or not 0 <= self.below <= 1000:
            raise FiguresError("banding must be a whole number from 0 (exact) to 1000")

    @property
    def label(self) -> str:
        return f"0-{self.below - 1}"

    def document(self) -> dict[str, Any]:
        if self.below <= 1:
            return {"mode": "exact"}
        document: dict[str, Any] = {"mode": "threshold", "below": self.below, "label": self.label}
        return document | {"suppression": "complementary"} if self.complementary else document

    @classmethod
    def from_document(cls, document: Any) -> Banding:
        if document == {"mode": "exact"}:
            return cls(0)
        if isinstance(document, dict) and document.get("mode") == "threshold" and set(document) in (
                {"mode", "below", "label"}, {"mode", "below", "label", "suppression"}):
            complementary = "suppression" in document
            banding = cls(document["below"], complementary=complementary)
            if banding.below > 1 and document["label"] == banding.label and document.get(
                    "suppression", "complementary") == "complementary":
                return banding
        raise FiguresError("the report's banding is not {\"mode\":\"exact\"} or a well-formed threshold")


@dataclass
class _Request:
    country: str
    legal_process: str
    offense_category: str
    emergency: bool
    selectors: int
    submitted: datetime
    decided: datetime | None = None
    granted: bool = False
    rejected: bool = False
    first_disclosure: datetime | None = None
    subjects: set[str] = field(default_factory=set)
    by_field: dict[str, int] = field(default_factory=dict)
    non_disclosure: bool = False
    verified: bool = False  # an emergency's secondary verification (section 16.1)
    court_order_attached: bool = False
    withdrawn: bool = False  # withdrawn by its authority (section 17.3), whatever it stood at
    amended: bool = False  # amended at least once (section 17.2); counted once, as submitted


@dataclass
class _Hold:
    """A preservation request (section 16.2), counted in the period it was submitted."""

    country: str
    granted: bool = False
    rejected: bool = False
    extended: bool = False


@dataclass
class _Order:
    request: str
    valid_until: datetime
    max_queries: int
    active: bool = False
    revoked: bool = False
    disclosures: int = 0


def _text(fact: Mapping[str, Any], key: str) -> str:
    value = fact.get(key)
    if not isinstance(value, str) or not value:
        raise FiguresError(f"a {fact.get('kind')} fact lacks its {key}")
    return value


def _whole(fact: Mapping[str, Any], key: str) -> int:
    value = fact.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FiguresError(f"a {fact.get('kind')} fact's {key} is not a whole number")
    return value


def _flag(fact: Mapping[str, Any], key: str) -> bool:
    value = fact.get(key)
    if not isinstance(value, bool):
        raise FiguresError(f"a {fact.get('kind')} fact's {key} is not true or false")
    return value


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


class Tally:
    """Accumulates entries in log order; :meth:`figures` gives the report's figures."""

    def __init__(self, period: Period, banding: Banding) -> None:
        self.period = period
        self.banding = banding
        self.requests: dict[str, _Request] = {}
        self.orders: dict[str, _Order] = {}
        self.holds: dict[str, _Hold] = {}
        self.last_time: datetime | None = None
        self.entries = 0

    def add(self, document: Mapping[str, Any]) -> None:
        """Count one entry. Raise :class:`FiguresError` if its facts are malformed."""
        index = document.get("index")
        try:
            moment = parse_rfc3339_us(str(document.get("time")))
        except ValueError:
            raise FiguresError(f"entry {index} has no valid time") from None
        self.last_time = moment
        self.entries += 1
        facts = document.get("facts", [])
        if document.get("decision") not in _COUNTED or document.get("principal_verified") is not True:
            return
        if not isinstance(facts, list):
            raise FiguresError(f"entry {index}'s facts are not a list")
        try:
            for fact in facts:
                if not isinstance(fact, dict):
                    raise FiguresError("a fact is not an object")
                self._fact(fact, moment, document)
        except FiguresError as exc:
            raise FiguresError(f"entry {index}: {exc}") from None

    def _fact(self, fact: Mapping[str, Any], moment: datetime, document: Mapping[str, Any]) -> None:
        kind = fact.get("kind")
        if kind == FactKind.SUBMITTED:
            request_id = _text(fact, "request")
            process, offense = _text(fact, "legal_process"), _text(fact, "offense_category")
            if process not in LEGAL_PROCESSES or offense not in OFFENSE_CATEGORIES:
                raise FiguresError("a request_submitted fact names an unknown process or offense category")
            if self.period.contains(moment) and request_id not in self.requests:
                self.requests[request_id] = _Request(
                    country=_text(fact, "country"), legal_process=process, offense_category=offense,
                    emergency=_flag(fact, "emergency"), selectors=_whole(fact, "selectors"), submitted=moment,
                    # Entries written before non-disclosure periods existed have no such key.
                    non_disclosure=fact.get("non_disclosure") is True)
            return
        if kind in LIFECYCLE_KINDS:
            self._lifecycle(fact, moment)
            return
        if kind in CONVERSATION_KINDS:
            found = self.requests.get(_text(fact, "request"))
            if found is not None:
                found.withdrawn |= kind == FactKind.WITHDRAWN
                found.amended |= kind == FactKind.AMENDED
            return
        if kind not in REQUEST_KINDS:
            raise FiguresError("a fact has an unknown kind")
        request = self.requests.get(_text(fact, "request"))
        if request is None:
            return  # a request submitted outside the period
        if kind == FactKind.REJECTED:
            if not request.rejected and not request.granted:
                request.rejected, request.decided = True, request.decided or moment
            return
        order_id = _text(fact, "order")
        if kind == FactKind.DRAFTED:
            try:
                valid_until = datetime.fromisoformat(_text(fact, "valid_until").replace("Z", "+00:00"))
            except ValueError:
                raise FiguresError("an order_drafted fact's valid_until is not a time") from None
            self.orders.setdefault(order_id, _Order(request=_text(fact, "request"), valid_until=valid_until,
                                                    max_queries=_whole(fact, "max_queries")))
            return
        order = self.orders.get(order_id)
        if order is None:
            raise FiguresError("a fact names an order no entry drafted")
        if kind == FactKind.APPROVED:
            if _flag(fact, "active"):
                order.active = True
                if not request.granted and not request.rejected:
                    request.granted, request.decided = True, request.decided or moment
        elif kind == FactKind.REVOKED:
            order.revoked = True
        elif kind == FactKind.DISCLOSED and document.get("decision") == "disclosed":
            order.disclosures += 1
            request.first_disclosure = request.first_disclosure or moment
            subjects, fields = document.get("subjects"), document.get("fields")
            if not isinstance(subjects, list) or not isinstance(fields, list):
                raise FiguresError("a disclosure entry lacks its subjects or fields")
            request.subjects.update(str(s) for s in subjects)
            for name in fields:
                request.by_field[str(name)] = request.by_field.get(str(name), 0) + 1

    def _lifecycle(self, fact: Mapping[str, Any], moment: datetime) -> None:
        """The facts of section 16: emergencies' verifications and court orders, preservation holds."""
        kind = fact.get("kind")
        if kind == FactKind.PRESERVATION_SUBMITTED:
            hold_id = _text(fact, "preservation")
            if self.period.contains(moment) and hold_id not in self.holds:
                self.holds[hold_id] = _Hold(country=_text(fact, "country"))
            return
        if kind in (FactKind.PRESERVATION_GRANTED, FactKind.PRESERVATION_REJECTED,
                    FactKind.PRESERVATION_EXTENDED):
            hold = self.holds.get(_text(fact, "preservation"))
            if hold is not None:
                hold.granted |= kind == FactKind.PRESERVATION_GRANTED
                hold.rejected |= kind == FactKind.PRESERVATION_REJECTED
                hold.extended |= kind == FactKind.PRESERVATION_EXTENDED
            return
        request = self.requests.get(_text(fact, "request"))
        if request is None:
            return
        if kind == FactKind.EMERGENCY_VERIFIED:
            request.verified = True
        elif kind == FactKind.COURT_ORDER_ATTACHED:
            request.court_order_attached = True

    # -- results ------------------------------------------------------------------------------

    def _counts(self, requests: list[_Request]) -> dict[str, int]:
        subjects: set[str] = set()
        for request in requests:
            subjects |= request.subjects
        granted = sum(1 for r in requests if r.granted)
        rejected = sum(1 for r in requests if r.rejected)
        return {"requests_received": len(requests), "requests_granted": granted, "requests_rejected": rejected,
                "requests_pending": len(requests) - granted - rejected,
                "requests_produced": sum(1 for r in requests if r.first_disclosure is not None),
                "accounts_specified": sum(r.selectors for r in requests), "accounts_disclosed": len(subjects),
                "requests_withdrawn": sum(1 for r in requests if r.withdrawn),
                "requests_amended": sum(1 for r in requests if r.amended)}

    def _figure_set(self, requests: list[_Request], holds: list[_Hold]) -> dict[str, Any]:
        """The exact figures of ``requests`` and ``holds``, with the hidden count of requests under
        non-disclosure (the numerator of a published share, so banding must see it)."""
        counts = self._counts(requests)
        received = counts["requests_received"]
        ids = {id(r) for r in requests}
        orders = [o for o in self.orders.values() if id(self.requests[o.request]) in ids]
        as_of = self.last_time
        expired_unused = sum(1 for o in orders if o.active and not o.revoked and o.disclosures == 0
                             and as_of is not None and o.valid_until <= as_of)
        non_disclosure = sum(1 for r in requests if r.non_disclosure)
        to_decision = [_hours(r.decided, r.submitted) for r in requests if r.decided is not None]
        to_disclosure = [_hours(r.first_disclosure, r.submitted) for r in requests if r.first_disclosure is not None]
        return counts | {
            "share_produced": None if received == 0 else round(counts["requests_produced"] / received, 4),
            "median_hours_to_decision": _median(to_decision),
            "median_hours_to_first_disclosure": _median(to_disclosure),
            "by_offense_category": {c: self._counts([r for r in requests if r.offense_category == c])
                                    for c in OFFENSE_CATEGORIES},
            "by_legal_process": {p: self._counts([r for r in requests if r.legal_process == p])
                                 for p in LEGAL_PROCESSES},
            "emergency": self._counts([r for r in requests if r.emergency]),
            "disclosures_by_field": {name: sum(r.by_field.get(name, 0) for r in requests) for name in SUBJECT_FIELDS},
            "orders_granted": sum(1 for o in orders if o.active),
            "orders_revoked": sum(1 for o in orders if o.revoked),
            "orders_expired_unused": expired_unused,
            "orders_exhausted": sum(1 for o in orders if o.disclosures >= o.max_queries > 0),
            # Section 11: emergencies' outcomes, preservation requests, the share under non-disclosure.
            "emergency_outcomes": {
                "verified": sum(1 for r in requests if r.emergency and r.verified),
                "court_order_attached": sum(1 for r in requests if r.emergency and r.court_order_attached)},
            "preservations": {"received": len(holds), "granted": sum(1 for h in holds if h.granted),
                              "rejected": sum(1 for h in holds if h.rejected),
                              "extended": sum(1 for h in holds if h.extended)},
            "share_under_non_disclosure": None if received == 0 else round(non_disclosure / received, 4),
            NON_DISCLOSURE: non_disclosure,
        }

    def figures(self) -> dict[str, Any]:
        """``{"as_of", "total", "countries"}`` over everything added so far."""
        every = list(self.requests.values())
        holds = list(self.holds.values())
        countries = sorted({r.country for r in every} | {h.country for h in holds})
        exact = {"total": self._figure_set(every, holds),
                 "countries": {c: self._figure_set([r for r in every if r.country == c],
                                                   [h for h in holds if h.country == c]) for c in countries}}
        published = band(exact, self.banding.below, self.banding.label, COUNT_KEYS,
                         complementary=self.banding.complementary)
        return {"as_of": None if self.last_time is None else rfc3339_us(self.last_time), **published}


def compute_figures(documents: Iterable[Mapping[str, Any]], period: Period, banding: Banding) -> dict[str, Any]:
    """The figures of ``period`` over ``documents`` (every entry up to the checkpoint, in order)."""
    tally = Tally(period, banding)
    for document in documents:
        tally.add(document)
    return tally.figures()
