"""The figures as a pure function of entry documents: what counts, what does not, and banding."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import BadRequest, FiguresError
from gateway.transparency.figures import Banding, compute_figures
from gateway.transparency.period import parse_period, span
from gateway.transparency.verify import first_difference

PERIOD = parse_period("2026-Q3")


def entry(index: int, time: str, *facts: dict[str, Any], decision: str = "served", verified: bool = True,
          subjects: list[str] | None = None, fields: list[str] | None = None) -> dict[str, Any]:
    return {"v": 1, "index": index, "time": time, "decision": decision, "principal_verified": verified,
            "subjects": subjects or [], "fields": fields or [], "facts": list(facts)}


def submitted(request: str, country: str = "DE", **extra: Any) -> dict[str, Any]:
    return {"kind": "request_submitted", "request": request, "country": country, "legal_process": "COURT_ORDER",
            "offense_category": "FRAUD", "emergency": False, "selectors": 2} | extra


def drafted(request: str, order: str, valid_until: str = "2026-09-01T00:00:00Z", max_queries: int = 3) -> dict:
    return {"kind": "order_drafted", "request": request, "order": order, "valid_until": valid_until,
            "max_queries": max_queries}


def approved(request: str, order: str) -> dict[str, Any]:
    return {"kind": "order_approved", "request": request, "order": order, "active": True}


def test_a_request_counts_in_the_period_it_was_submitted_and_its_outcome_as_of_the_checkpoint() -> None:
    documents = [
        entry(0, "2026-06-30T23:59:59.999999Z", submitted("r0")),  # before the period
        entry(1, "2026-07-01T00:00:00.000000Z", submitted("r1")),
        entry(2, "2026-09-30T23:00:00.000000Z", submitted("r2", "FR")),
        entry(3, "2026-10-01T00:00:00.000000Z", submitted("r3")),  # after it
        entry(4, "2026-10-02T00:00:00.000000Z", drafted("r2", "o2"), approved("r2", "o2")),  # granted later: counts
        entry(5, "2026-10-02T01:00:00.000000Z", approved("r0", "o0")),  # outside the period: ignored
    ]
    figures = compute_figures(documents, PERIOD, Banding())
    assert figures["total"]["requests_received"] == 2
    assert figures["countries"]["FR"]["requests_granted"] == 1
    assert figures["countries"]["FR"]["median_hours_to_decision"] == 25.0
    assert figures["countries"]["DE"]["requests_pending"] == 1
    assert figures["as_of"] == "2026-10-02T01:00:00.000000Z"


def test_refused_and_unverified_entries_count_nowhere() -> None:
    documents = [entry(0, "2026-07-02T00:00:00.000000Z", submitted("r1"), decision="refused"),
                 entry(1, "2026-07-02T00:00:00.000000Z", submitted("r2"), verified=False)]
    assert compute_figures(documents, PERIOD, Banding())["total"]["requests_received"] == 0


def test_orders_exhausted_revoked_and_expired_unused() -> None:
    documents = [
        entry(0, "2026-07-02T00:00:00.000000Z", submitted("r1"), submitted("r2"), submitted("r3")),
        entry(1, "2026-07-02T01:00:00.000000Z", drafted("r1", "o1", max_queries=1), approved("r1", "o1"),
              drafted("r2", "o2"), approved("r2", "o2"), drafted("r3", "o3"), approved("r3", "o3")),
        entry(2, "2026-07-02T03:00:00.000000Z", {"kind": "disclosed", "request": "r1", "order": "o1"},
              decision="disclosed", subjects=["sub_a"], fields=["phoneNumber"]),
        entry(3, "2026-07-03T00:00:00.000000Z", {"kind": "order_revoked", "request": "r3", "order": "o3"}),
        entry(4, "2026-09-02T00:00:00.000000Z"),  # the log moves past valid_until
    ]
    total = compute_figures(documents, PERIOD, Banding())["total"]
    assert (total["orders_exhausted"], total["orders_revoked"], total["orders_expired_unused"]) == (1, 1, 1)
    assert total["median_hours_to_first_disclosure"] == 3.0
    assert total["share_produced"] == round(1 / 3, 4)


def test_banding_turns_every_small_count_into_its_label_and_withholds_ratios() -> None:
    documents = [entry(0, "2026-07-02T00:00:00.000000Z", submitted("r1"))]
    figures = compute_figures(documents, PERIOD, Banding(10))
    assert figures["total"]["requests_received"] == "0-9"
    assert figures["total"]["requests_rejected"] == "0-9"  # zero too: the band must not say "not zero"
    assert figures["total"]["share_produced"] is None
    assert Banding.from_document(Banding(10).document()) == Banding(10)
    with pytest.raises(FiguresError, match="banding"):
        Banding.from_document({"mode": "threshold", "below": 10, "label": "0-8"})


def test_a_threshold_without_suppression_is_recomputed_as_counts_banded_alone() -> None:
    """Reports whose banding document has no "suppression" were published with each count banded
    alone; verify recomputes them so, while the gateway now writes only the complementary form."""
    documents = [entry(n, "2026-07-02T00:00:00.000000Z", submitted(f"r{n}", "DE" if n < 10 else "NL"))
                 for n in range(13)]
    alone = Banding.from_document({"mode": "threshold", "below": 10, "label": "0-9"})
    assert alone == Banding(10, complementary=False) and alone.document() == {"mode": "threshold", "below": 10,
                                                                            "label": "0-9"}
    figures = compute_figures(documents, PERIOD, alone)
    assert (figures["total"]["requests_received"], figures["countries"]["DE"]["requests_received"]) == (13, 10)
    assert figures["countries"]["NL"]["requests_received"] == "0-9"  # and 13 - 10 gives it: why it is not written
    protected = compute_figures(documents, PERIOD, Banding(10))
    assert None in (protected["total"]["requests_received"], protected["countries"]["DE"]["requests_received"])
    with pytest.raises(FiguresError, match="banding"):
        Banding.from_document({"mode": "threshold", "below": 10, "label": "0-9", "suppression": "none"})


@pytest.mark.parametrize("fact", [
    {"kind": "request_submitted", "request": "r9"},
    submitted("r9", offense_category="MURDER"),
    submitted("r9", selectors=-1),
    {"kind": "order_approved", "request": "r1", "order": "nowhere", "active": True},
    {"kind": "something_else", "request": "r1"},
])
def test_malformed_facts_are_refused(fact: dict[str, Any]) -> None:
    documents = [entry(0, "2026-07-02T00:00:00.000000Z", submitted("r1")),
                 entry(1, "2026-07-02T00:00:00.000000Z", fact)]
    with pytest.raises(FiguresError, match="entry 1"):
        compute_figures(documents, PERIOD, Banding())


def test_periods() -> None:
    assert parse_period("2026-H2").as_document() == {"name": "2026-H2", "from": "2026-07-01T00:00:00Z",
                                                     "until": "2027-01-01T00:00:00Z"}
    assert parse_period("2026-Q4").end.isoformat() == "2027-01-01T00:00:00+00:00"
    assert span("2026-07-01", "2026-10-01") == parse_period("2026-Q3").__class__(
        "2026-07-01..2026-10-01", PERIOD.start, PERIOD.end)
    for bad in ("2026-Q5", "2026-13", "0000", "26-H1", "2026-10-01..2026-07-01", "x" * 40):
        with pytest.raises(BadRequest, match=r"period|until"):
            parse_period(bad)


def test_first_difference_names_the_path() -> None:
    assert first_difference({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}) == ("a.c", 2, 3)
    assert first_difference({"a": 1}, {"a": 1.0}) == ("a", 1, 1.0)  # 1 and 1.0 are not the same figure
    assert first_difference({"a": 1}, {"a": 1}) is None


def test_amended_and_withdrawn_requests_count_once_where_they_stood() -> None:
    """Section 17: an amendment adds no request and keeps the selectors submitted; a withdrawn
    request still counts as granted, rejected or pending, and in requests_withdrawn too."""
    documents = [
        entry(0, "2026-07-02T00:00:00.000000Z", submitted("r1"), submitted("r2"), submitted("r3", "FR")),
        entry(1, "2026-07-02T01:00:00.000000Z", {"kind": "clarification_requested", "request": "r1", "version": 1,
                                                  "questions": 1}),
        entry(2, "2026-07-02T02:00:00.000000Z", {"kind": "clarification_answered", "request": "r1", "version": 2,
                                                  "amended": True},
              {"kind": "request_amended", "request": "r1", "version": 2, "changed": ["subjects"], "selectors": 5}),
        entry(3, "2026-07-02T03:00:00.000000Z", drafted("r2", "o2"), approved("r2", "o2")),
        entry(4, "2026-07-02T04:00:00.000000Z", {"kind": "request_withdrawn", "request": "r2", "orders": ["o2"]}),
        entry(5, "2026-07-02T05:00:00.000000Z", {"kind": "request_withdrawn", "request": "r3", "orders": []}),
    ]
    figures = compute_figures(documents, PERIOD, Banding())
    total = figures["total"]
    assert (total["requests_received"], total["requests_amended"], total["requests_withdrawn"]) == (3, 1, 2)
    assert total["accounts_specified"] == 6  # as submitted: 2 each, the amendment's 5 not counted
    assert (total["requests_granted"], total["requests_pending"]) == (1, 2)
    assert figures["countries"]["FR"]["requests_withdrawn"] == 1
    assert total["by_offense_category"]["FRAUD"]["requests_withdrawn"] == 2
    banded = compute_figures(documents, PERIOD, Banding(5))["total"]
    assert banded["requests_withdrawn"] == "0-4" and banded["requests_amended"] == "0-4"
