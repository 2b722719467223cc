"""No banded count of a report can be worked out from what the report publishes.

Over many generated logs, the report's figures are attacked as an outsider would, from the
published report alone: each sum solved for its one unknown (a total minus its other countries,
a count minus its other categories, received minus granted and rejected), sums whose unknown
bands add up to 0 or to their largest value, the difference or sum of two sums (one figure set's
categories against its processes, totals across dimensions), and shares times their denominators
(or numerators over their shares), and parts of a figure that nothing is left of (holds rejected
when those granted are all those received, orders expired unused when all granted were used up,
emergencies' counts when the set's are its emergencies'), each result fed back in until nothing
new follows. Not one
derivation may give a banded count's exact value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.orders.model import LEGAL_PROCESSES, OFFENSE_CATEGORIES
from gateway.transparency.figures import COUNT_KEYS, Banding, compute_figures
from gateway.transparency.period import parse_period
from gateway.transparency.render import CSV_COLUMNS, report_csv

PERIOD = parse_period("2026-Q3")
COUNTRIES = ("DE", "FR", "NL")
SUBJECTS = tuple(f"sub_{n}" for n in range(8))
Path = tuple[str, ...]


@dataclass
class Generated:
    below: int
    documents: list[dict[str, Any]] = field(default_factory=list)
    non_disclosure: dict[str, int] = field(default_factory=dict)  # per country, the hidden numerator

    def add(self, *facts: dict[str, Any], **extra: Any) -> None:
        index = len(self.documents)
        time = f"2026-07-{1 + index // 1000:02d}T{index // 60 % 24:02d}:{index % 60:02d}:00.000000Z"
        self.documents.append({"v": 1, "index": index, "time": time, "decision": "served", "principal_verified": True,
                               "subjects": [], "fields": [], "facts": list(facts)} | extra)


request_strategy = st.fixed_dictionaries({
    "country": st.sampled_from(COUNTRIES), "offense": st.sampled_from(OFFENSE_CATEGORIES[:3]),
    "process": st.sampled_from(LEGAL_PROCESSES[:2]), "emergency": st.booleans(), "selectors": st.integers(1, 3),
    "non_disclosure": st.booleans(), "outcome": st.sampled_from(("pending", "rejected", "granted", "produced")),
    "subjects": st.lists(st.sampled_from(SUBJECTS), min_size=1, max_size=2, unique=True),
    "fields": st.lists(st.sampled_from(("phoneNumber", "ipAddresses", "devices")), min_size=1, max_size=2, unique=True),
    "verified": st.booleans(), "disclosures": st.integers(1, 2),
    "amended": st.booleans(), "withdrawn": st.booleans(),  # section 17
})
hold_strategy = st.fixed_dictionaries({"country": st.sampled_from(COUNTRIES),
                                       "outcome": st.sampled_from(("pending", "granted", "rejected")),
                                       "extended": st.booleans()})


@st.composite
def logs(draw: st.DrawFn) -> Generated:
    generated = Generated(below=draw(st.sampled_from((2, 3, 5, 10))))
    for n, request in enumerate(draw(st.lists(request_strategy, max_size=45))):
        rid, oid = f"r{n}", f"o{n}"
        generated.add({"kind": "request_submitted", "request": rid, "country": request["country"],
                       "legal_process": request["process"], "offense_category": request["offense"],
                       "emergency": request["emergency"], "selectors": request["selectors"],
                       "non_disclosure": request["non_disclosure"]})
        country = request["country"]
        generated.non_disclosure[country] = generated.non_disclosure.get(country, 0) + request["non_disclosure"]
        if request["emergency"] and request["verified"]:
            generated.add({"kind": "emergency_verified", "request": rid, "by": "rev", "method": "CALLBACK_KNOWN_NUMBER",
                           "at": "2026-07-01T00:00:00Z"})
        if request["amended"]:
            generated.add({"kind": "request_amended", "request": rid, "version": 2, "changed": ["fields"],
                           "selectors": request["selectors"]})
        if request["outcome"] == "rejected":
            generated.add({"kind": "request_rejected", "request": rid})
        elif request["outcome"] in ("granted", "produced"):
            generated.add({"kind": "order_drafted", "request": rid, "order": oid, "valid_until": "2026-12-01T00:00:00Z",
                           "max_queries": 2},
                          {"kind": "order_approved", "request": rid, "order": oid, "active": True})
            for _ in range(request["disclosures"] if request["outcome"] == "produced" else 0):
                generated.add({"kind": "disclosed", "request": rid, "order": oid}, decision="disclosed",
                              subjects=request["subjects"], fields=request["fields"])  # twice: used up
        if request["withdrawn"] and request["outcome"] != "rejected":
            generated.add({"kind": "request_withdrawn", "request": rid,
                           "orders": [oid] if request["outcome"] != "pending" else []})
    for n, hold in enumerate(draw(st.lists(hold_strategy, max_size=12))):
        fact = {"preservation": f"p{n}", "country": hold["country"], "subjects": 1, "until": "2026-12-01T00:00:00Z"}
        generated.add({"kind": "preservation_submitted", **fact})
        if hold["outcome"] == "granted":
            generated.add({"kind": "preservation_granted", **fact})
            if hold["extended"]:
                generated.add({"kind": "preservation_extended", **fact})
        elif hold["outcome"] == "rejected":
            generated.add({"kind": "preservation_rejected", **fact})
    return generated


# -- the outsider ---------------------------------------------------------------------------------

Equation = tuple[dict[Path, int], int]  # sum(coefficient * cell) == constant


@dataclass
class Attack:
    below: int
    known: dict[Path, Fraction]
    unknown_kind: dict[Path, str]  # "band", "withheld" or "hidden"
    equations: list[dict[Path, int]]
    shares: list[tuple[Path, Path, float]]  # numerator, denominator, published share
    at_most: list[tuple[Path, Path, tuple[Path, ...]]]  # part <= whole - others (disjoint parts of it)
    derived: list[tuple[Path, Fraction, str]] = field(default_factory=list)

    def learn(self, path: Path, value: Fraction, how: str) -> bool:
        if path in self.known or path not in self.unknown_kind:
            return False
        self.known[path] = value
        self.derived.append((path, value, how))
        return True

    def reduced(self, equation: dict[Path, int]) -> Equation:
        rest = {path: c for path, c in equation.items() if path not in self.known}
        return rest, -sum(c * self.known[path] for path, c in equation.items() if path in self.known)

    def solve_one(self, rest: dict[Path, int], constant: Fraction, how: str) -> bool:
        if len(rest) != 1:
            return False
        (path, c), = rest.items()
        return self.learn(path, Fraction(constant) / c, how)

    def round(self) -> bool:
        progress = False
        reduced = [self.reduced(equation) for equation in self.equations]
        for rest, constant in reduced:
            progress |= self.solve_one(rest, constant, "a sum with one unknown")
            if rest and all(self.unknown_kind[p] == "band" and c in (1, -1) for p, c in rest.items()) and len(
                    {c for c in rest.values()}) == 1:
                total = constant * next(iter(rest.values()))
                if total == 0 or total == len(rest) * (self.below - 1):
                    for path in rest:
                        progress |= self.learn(path, Fraction(total, len(rest)), "bands adding to an end")
        by_cell: dict[Path, list[int]] = {}
        for n, (rest, _) in enumerate(reduced):
            for path in rest:
                by_cell.setdefault(path, []).append(n)
        for n, (rest, constant) in enumerate(reduced):
            partners = {m for path in rest for m in by_cell[path] if m > n}
            for m in partners:
                other, other_constant = reduced[m]
                for sign in (1, -1):
                    combined = dict(rest)
                    for path, c in other.items():
                        combined[path] = combined.get(path, 0) - sign * c
                    combined = {path: c for path, c in combined.items() if c}
                    progress |= self.solve_one(combined, constant - sign * other_constant, "two sums combined")
        for part, whole, others in self.at_most:
            if whole in self.known and all(other in self.known for other in others) and self.known[whole] == sum(
                    self.known[other] for other in others):
                progress |= self.learn(part, Fraction(0), "a part of nothing left")
        for numerator, denominator, share in self.shares:
            if denominator in self.known and numerator not in self.known:
                whole = self.known[denominator]
                fits = [p for p in range(int(whole) + 1) if round(p / whole, 4) == share] if whole > 0 else []
                if len(fits) == 1:
                    progress |= self.learn(numerator, Fraction(fits[0]), "a share times its denominator")
            if numerator in self.known and denominator not in self.known and share > 0:
                part = self.known[numerator]
                fits = [r for r in range(max(int(part), 1), 20_000) if round(int(part) / r, 4) == share]
                if len(fits) == 1:
                    progress |= self.learn(denominator, Fraction(fits[0]), "a numerator over its share")
        return progress


def _figure_sets(report: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    yield ("total",), report["total"]
    for code, figures in report["countries"].items():
        yield ("countries", code), figures


def _cells(figures: dict[str, Any], prefix: Path) -> Iterator[tuple[Path, Any]]:
    for key, value in figures.items():
        if key.startswith(("share_", "median_")):
            continue
        if isinstance(value, dict):
            yield from _cells(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def attack(report: dict[str, Any], below: int) -> Attack:
    """The outsider's knowledge of ``report``: its exact counts, its unknowns and its sums."""
    known: dict[Path, Fraction] = {}
    kinds: dict[Path, str] = {}
    for prefix, figures in _figure_sets(report):
        for path, value in _cells(figures, prefix):
            if isinstance(value, int):
                known[path] = Fraction(value)
            else:
                kinds[path] = "band" if isinstance(value, str) else "withheld"
        kinds[(*prefix, "non_disclosure")] = "hidden"
    equations: list[dict[Path, int]] = []
    shares: list[tuple[Path, Path, float]] = []
    countries = [prefix for prefix, _ in _figure_sets(report) if prefix[0] == "countries"]
    for prefix, figures in _figure_sets(report):
        blocks = [prefix, (*prefix, "emergency")] + [(*prefix, "by_offense_category", c) for c in OFFENSE_CATEGORIES]
        blocks += [(*prefix, "by_legal_process", p) for p in LEGAL_PROCESSES]
        for block in blocks:  # received = granted + rejected + pending
            equations.append({(*block, "requests_received"): -1, (*block, "requests_granted"): 1,
                              (*block, "requests_rejected"): 1, (*block, "requests_pending"): 1})
        for key in COUNT_KEYS:  # a count is the sum over categories, and over processes
            equations.append({(*prefix, key): -1} | {(*prefix, "by_offense_category", c, key): 1
                                                    for c in OFFENSE_CATEGORIES})
            equations.append({(*prefix, key): -1} | {(*prefix, "by_legal_process", p, key): 1 for p in LEGAL_PROCESSES})
        for numerator, share in (("requests_produced", "share_produced"), ("non_disclosure",
                                                                          "share_under_non_disclosure")):
            if figures[share] is not None:
                shares.append(((*prefix, numerator), (*prefix, "requests_received"), figures[share]))
    at_most: list[tuple[Path, Path, tuple[Path, ...]]] = []
    for prefix, _ in _figure_sets(report):
        holds = (*prefix, "preservations")
        at_most += [((*holds, "rejected"), (*holds, "received"), ((*holds, "granted"),)),
                    ((*holds, "granted"), (*holds, "received"), ((*holds, "rejected"),)),
                    ((*holds, "extended"), (*holds, "granted"), ()),
                    ((*prefix, "orders_expired_unused"), (*prefix, "orders_granted"), ((*prefix, "orders_exhausted"),)),
                    ((*prefix, "orders_exhausted"), (*prefix, "orders_granted"), ((*prefix, "orders_expired_unused"),))]
        at_most += [((*prefix, "emergency", key), (*prefix, key), ()) for key in COUNT_KEYS]
        at_most += [((*prefix, key), (*prefix, "requests_received"), ())
                    for key in ("requests_withdrawn", "requests_amended")]
    if countries:  # the total of every count is the sum of the countries'
        for path, _ in [*_cells(report["total"], ("total",)), (("total", "non_disclosure"), None)]:
            equations.append({path: -1} | {(*country, *path[1:]): 1 for country in countries})
    return Attack(below, known, kinds, equations, shares, at_most)


def _truth(generated: Generated, exact: dict[str, Any]) -> dict[Path, int]:
    truth: dict[Path, int] = {}
    for prefix, figures in _figure_sets(exact):
        truth.update({path: value for path, value in _cells(figures, prefix)})
    for code, count in generated.non_disclosure.items():
        truth[("countries", code, "non_disclosure")] = count
    truth[("total", "non_disclosure")] = sum(generated.non_disclosure.values())
    return truth


def _csv_matches(report: dict[str, Any]) -> None:
    """report.csv (and the HTML table, drawn from the same rows) shows each figure as report.json
    does: a band as its label, a withheld count or share as an empty cell, nothing more."""
    body = {"period": {"name": PERIOD.name}, **report}
    rows = list(csv.DictReader(io.StringIO(report_csv(body))))
    for row in rows:
        figures = report["total"] if row["country"] == "TOTAL" else report["countries"][row["country"]]
        for column in CSV_COLUMNS[2:12]:
            value = figures[column]
            assert row[column] == ("" if value is None else str(value)), (row["country"], column)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_no_banded_count_can_be_derived(generated: Generated) -> None:
    report = json.loads(json.dumps(compute_figures(generated.documents, PERIOD, Banding(generated.below))))
    exact = compute_figures(generated.documents, PERIOD, Banding())
    truth = _truth(generated, exact)
    outsider = attack(report, generated.below)
    while outsider.round():
        pass
    banded = {path for path, kind in outsider.unknown_kind.items()
              if kind == "band" or (kind == "hidden" and truth.get(path, 0) < generated.below)}
    leaks = [(path, value, how) for path, value, how in outsider.derived if path in banded and value == truth[path]]
    assert leaks == [], leaks[:3]
    _csv_matches(report)


def test_the_report_of_the_issue_hides_a_small_country() -> None:
    """Ten requests from DE and three from NL, banded below 10: the NL figures do not follow from
    the total minus DE, nor NL's produced requests from a share."""
    generated = Generated(below=10)
    for n in range(13):
        country = "DE" if n < 10 else "NL"
        generated.add({"kind": "request_submitted", "request": f"r{n}", "country": country,
                       "legal_process": "COURT_ORDER", "offense_category": "FRAUD", "emergency": False,
                       "selectors": 1, "non_disclosure": False})
        generated.non_disclosure[country] = 0
        generated.add({"kind": "order_drafted", "request": f"r{n}", "order": f"o{n}",
                       "valid_until": "2026-12-01T00:00:00Z", "max_queries": 2},
                      {"kind": "order_approved", "request": f"r{n}", "order": f"o{n}", "active": True})
        generated.add({"kind": "disclosed", "request": f"r{n}", "order": f"o{n}"}, decision="disclosed",
                      subjects=[f"sub_{n}"], fields=["phoneNumber"])
    report = json.loads(json.dumps(compute_figures(generated.documents, PERIOD, Banding(10))))
    assert report["countries"]["NL"]["requests_received"] == "0-9"
    truth = _truth(generated, compute_figures(generated.documents, PERIOD, Banding()))
    outsider = attack(report, 10)
    while outsider.round():
        pass
    assert [(p, v) for p, v, _ in outsider.derived
            if outsider.unknown_kind[p] == "band" and v == truth[p]] == []
