"""Transparency reports from the real log: every figure against the test's own counts, verified
offline from an export, stored once and served publicly (issue 14)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from typer.testing import Result

from crypto.canonical import canonical_json
from gateway.orders.model import LEGAL_PROCESSES, OFFENSE_CATEGORIES
from gateway.transparency.signing import sign_report
from gateway.values.fields import SUBJECT_FIELDS
from tests.gateway.transparency.conftest import Case, Scenario, verifier_key
from tests.support.plaintext import leaks, secrets_of
from tests.support.platform import on_both_sources  # noqa: F401  (every test here on both subject sources)


def _counts(cases: list[Case]) -> dict[str, int]:
    subjects: set[str] = set()
    for case in cases:
        subjects |= case.subjects
    return {"requests_received": len(cases),
            "requests_granted": sum(c.status == "GRANTED" for c in cases),
            "requests_rejected": sum(c.status == "REJECTED" for c in cases),
            "requests_pending": sum(c.status == "PENDING" for c in cases),
            "requests_produced": sum(bool(c.disclosure_indexes) for c in cases),
            "accounts_specified": sum(c.selectors for c in cases), "accounts_disclosed": len(subjects),
            # The scenario neither withdraws nor amends (tests/gateway/orders/test_conversation_figures.py does).
            "requests_withdrawn": 0, "requests_amended": 0}


def expected_figures(scenario: Scenario, cases: list[Case], *, revoked: int, exhausted: int) -> dict[str, Any]:
    """What the report must say about ``cases``, counted from what the test itself did."""
    hours = lambda later, earlier: (scenario.time_of(later) - scenario.time_of(earlier)).total_seconds() / 3600  # noqa: E731
    decisions = [hours(c.decided_index, c.submitted_index) for c in cases if c.decided_index is not None]
    firsts = [hours(c.disclosure_indexes[0], c.submitted_index) for c in cases if c.disclosure_indexes]
    counts = _counts(cases)
    return counts | {
        "share_produced": round(counts["requests_produced"] / len(cases), 4),
        "median_hours_to_decision": round(statistics.median(decisions), 3) if decisions else None,
        "median_hours_to_first_disclosure": round(statistics.median(firsts), 3) if firsts else None,
        "by_offense_category": {o: _counts([c for c in cases if c.offense == o]) for o in OFFENSE_CATEGORIES},
        "by_legal_process": {p: _counts([c for c in cases if c.process == p]) for p in LEGAL_PROCESSES},
        "emergency": _counts([c for c in cases if c.emergency]),
        "disclosures_by_field": {f: sum(c.fields.count(f) for c in cases) for f in SUBJECT_FIELDS},
        "orders_granted": sum(len(c.orders) for c in cases), "orders_revoked": revoked,
        "orders_expired_unused": 0, "orders_exhausted": exhausted,
        # Section 16.6: the scenario's emergency is verified; it brought its court order with it.
        "emergency_outcomes": {"verified": sum(c.emergency for c in cases), "court_order_attached": 0},
        "preservations": {"received": 0, "granted": 0, "rejected": 0, "extended": 0},
        "share_under_non_disclosure": 0.0,
    }


def generate(run: Callable[..., Result], scenario: Scenario, out: Path, *extra: object) -> dict[str, Any]:
    result = run("transparency", "report", "--period", scenario.period, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return dict(json.loads((out / "report.json").read_text()))


def export(run: Callable[..., Result], report: dict[str, Any], out: Path) -> Path:
    target = out / "entries.jsonl"
    result = run("audit", "export", "--to", report["checkpoint"]["tree_size"], "--out", target)
    assert result.exit_code == 0, result.output
    return target


def test_every_figure_matches_the_tests_own_counts(scenario: Scenario, run: Callable[..., Result],
                                                   tmp_path: Path) -> None:
    report = generate(run, scenario, tmp_path / "out")
    cases = scenario.cases
    assert {c.country for c in cases} == {"DE", "FR", "NL"}
    assert any(len(c.fields) >= 2 for c in cases)  # some disclosed on several fields
    de = [c for c in cases if c.country == "DE"]
    assert len(de[0].subjects & de[1].subjects) == 1  # one subject disclosed in two requests
    assert report["countries"] == {
        "DE": expected_figures(scenario, de, revoked=0, exhausted=0),
        "FR": expected_figures(scenario, [c for c in cases if c.country == "FR"], revoked=1, exhausted=0),
        "NL": expected_figures(scenario, [c for c in cases if c.country == "NL"], revoked=0, exhausted=1),
    }
    assert report["total"] == expected_figures(scenario, cases, revoked=1, exhausted=1)
    # The distinct subject counts once in the total though two requests disclosed it.
    assert report["total"]["accounts_disclosed"] == 3  # s0 (twice), s1, s4
    assert report["total"]["requests_received"] == 7
    assert report["banding"] == {"mode": "exact"}
    assert report["version"] == 1 and report["supersedes"] is None
    size = report["checkpoint"]["tree_size"]
    assert size == scenario.world.gateway.audit_size() and report["checkpoint"]["note"].split("\n")[1] == str(size)
    csv_lines = (tmp_path / "out" / "report.csv").read_bytes().decode().splitlines()
    assert [line.split(",")[1] for line in csv_lines] == ["country", "DE", "FR", "NL", "TOTAL"]
    assert csv_lines[4].split(",")[2:6] == ["7", "4", "1", "2"]


def test_banding_hides_small_counts_and_says_so(scenario: Scenario, run: Callable[..., Result],
                                                tmp_path: Path) -> None:
    report = generate(run, scenario, tmp_path / "out", "--band-below", 5)
    assert report["banding"] == {"mode": "threshold", "below": 5, "label": "0-4", "suppression": "complementary"}
    assert report["countries"]["FR"]["requests_received"] == "0-4"
    assert report["countries"]["FR"]["share_produced"] is None
    assert report["total"]["requests_received"] == 7 and report["total"]["requests_granted"] == "0-4"
    # Whatever else is withheld so that no band follows from the rest, verify recomputes it from the log.
    entries = export(run, report, tmp_path)
    result = _verify(run, scenario, tmp_path / "out" / "report.json", entries)
    assert result.exit_code == 0, result.output


def test_verify_passes_on_the_export(scenario: Scenario, run: Callable[..., Result], tmp_path: Path) -> None:
    report = generate(run, scenario, tmp_path)
    entries = export(run, report, tmp_path)
    result = run("transparency", "verify", tmp_path / "report.json", "--entries", entries,
                 "--verifier-key", verifier_key(scenario.world.gateway.settings))
    assert result.exit_code == 0, result.output
    assert "verifies" in result.output


def _verify(run: Callable[..., Result], scenario: Scenario, report: Path, entries: Path) -> Result:
    return run("transparency", "verify", report, "--entries", entries,
               "--verifier-key", verifier_key(scenario.world.gateway.settings))


def test_verify_fails_naming_what_differs(scenario: Scenario, run: Callable[..., Result], tmp_path: Path) -> None:
    report = generate(run, scenario, tmp_path)
    entries = export(run, report, tmp_path)
    assert _verify(run, scenario, tmp_path / "report.json", entries).exit_code == 0

    # One figure edited in the report.
    edited = json.loads(json.dumps(report))
    edited["countries"]["FR"]["requests_granted"] += 1
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    result = _verify(run, scenario, tmp_path / "edited.json", entries)
    assert result.exit_code == 1
    assert "figure countries.FR.requests_granted differs: the report says 2, the log gives 1" in result.output

    # One exported entry edited: the rejection becomes an approval that granted (still canonical JCS).
    lines = entries.read_text().splitlines()
    rejected = next(i for i, line in enumerate(lines) if '"kind":"request_rejected"' in line)
    document = json.loads(lines[rejected])
    order_fact = next(json.loads(line)["facts"][0] for line in lines if '"kind":"order_drafted"' in line)
    document["facts"] = [{"kind": "order_approved", "request": document["facts"][0]["request"],
                          "order": order_fact["order"], "active": True}]
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join([*lines[:rejected], canonical_json(document).decode(), *lines[rejected + 1:]]) + "\n")
    result = _verify(run, scenario, tmp_path / "report.json", tampered)
    assert result.exit_code == 1
    assert "is not the checkpoint's signed root" in result.output
    assert "figure countries.FR.by_legal_process.COURT_ORDER.requests_granted would then differ too" in result.output

    # The report re-signed by another key.
    body = {k: v for k, v in report.items() if k != "signature"}
    (tmp_path / "forged.json").write_text(json.dumps(sign_report(body, SigningKey.generate())))
    result = _verify(run, scenario, tmp_path / "forged.json", entries)
    assert result.exit_code == 1
    assert "signature does not verify with the verifier key" in result.output


def test_no_imported_value_in_the_reports_or_the_export(scenario: Scenario, run: Callable[..., Result],
                                                        tmp_path: Path) -> None:
    report = generate(run, scenario, tmp_path)
    entries = export(run, report, tmp_path)
    texts = [(tmp_path / name).read_text() for name in ("report.json", "report.csv", "report.html")]
    texts.append(entries.read_text())
    guarded = secrets_of(scenario.world.subjects) | {"+33612345678", "33612345678"}
    assert len(guarded) > 20
    assert leaks(texts, guarded) == []
    # The facts hold exactly the documented keys: nothing about a person can hide in another one.
    allowed = {"request_submitted": {"request", "country", "legal_process", "offense_category", "emergency",
                                     "selectors", "non_disclosure"},
               "order_drafted": {"request", "order", "valid_until", "max_queries"},
               "order_approved": {"request", "order", "active"}, "request_rejected": {"request"},
               "order_revoked": {"request", "order"}, "disclosed": {"request", "order"},
               "emergency_verified": {"request", "by", "method", "at"}}
    # An emergency request that came with its court order names its hash (the entry proves it attached).
    optional = {"request_submitted": {"court_order_sha256"}}
    kinds = []
    for line in texts[3].splitlines():
        for fact in json.loads(line).get("facts", []):
            kinds.append(fact["kind"])
            keys = set(fact) - {"kind"}
            assert allowed[fact["kind"]] <= keys <= allowed[fact["kind"]] | optional.get(fact["kind"], set()), fact
    assert set(kinds) == set(allowed)


def test_reports_are_stored_once_and_superseded_by_later_versions(scenario: Scenario, run: Callable[..., Result],
                                                                  tmp_path: Path) -> None:
    gateway = scenario.world.gateway
    first = generate(run, scenario, tmp_path / "v1")
    again = generate(run, scenario, tmp_path / "v1again")
    # The CLI's own reads grow nothing; the log has not moved, so the stored version comes back.
    assert again == first
    response = gateway.client.get(f"/transparency/{scenario.period}.json")
    gateway.bodies.append(response.text)
    assert response.status_code == 200 and json.loads(response.text) == first
    assert gateway.audit_size() == first["checkpoint"]["tree_size"]  # public reads are not audit-logged
    gateway.post(scenario.world.auditor, "{ whoami { id } }")  # the log grows
    second = generate(run, scenario, tmp_path / "v2")
    assert second["version"] == 2 and second["supersedes"] == 1
    assert second["checkpoint"]["tree_size"] > first["checkpoint"]["tree_size"]
    listing = gateway.client.get("/transparency").json()["reports"]
    assert [(r["version"], r["supersedes"], r["latest"]) for r in listing] == [(2, 1, True), (1, None, False)]
    old = gateway.client.get(f"/transparency/{scenario.period}.json?version=1")
    assert json.loads(old.text) == first  # version 1 never changed
    html = gateway.client.get(f"/transparency/{scenario.period}.html")
    assert html.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in html.headers["content-security-policy"]
    csv = gateway.client.get(f"/transparency/{scenario.period}.csv")
    assert csv.text == (tmp_path / "v2" / "report.csv").read_bytes().decode()
    for bad in ("/transparency/2026-Q5.json", "/transparency/x.exe", f"/transparency/{scenario.period}.json?version=0",
                f"/transparency/{scenario.period}.json?version=9", "/transparency/0000.json"):
        assert gateway.client.get(bad).status_code == 404, bad
    assert gateway.audit_size() == second["checkpoint"]["tree_size"]


def test_auditors_read_reports_through_graphql(scenario: Scenario, run: Callable[..., Result],
                                               tmp_path: Path) -> None:
    first = generate(run, scenario, tmp_path)
    world = scenario.world
    query = ("query($p: String!) { transparencyReports { period version treeSize json } "
             "transparencyReport(period: $p) { version supersedes json csv } }")
    response = world.gateway.post(world.auditor, query, variables={"p": scenario.period})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["transparencyReports"] == [{"period": scenario.period, "version": 1,
                                            "treeSize": first["checkpoint"]["tree_size"], "json": None}]
    assert json.loads(data["transparencyReport"]["json"]) == first
    assert data["transparencyReport"]["csv"] == (tmp_path / "report.csv").read_bytes().decode()
    refused = world.gateway.post(world.authority, "{ transparencyReports { period } }")
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN_ROLE"


@pytest.mark.parametrize("period", ["2026-Q3", "2026-H2", "2026", "2026-07", "2026-07-01..2026-10-01"])
def test_named_periods(period: str) -> None:
    from gateway.transparency.period import parse_period

    parsed = parse_period(period)
    assert parsed.start.isoformat().startswith("2026-07-01") or parsed.start.isoformat().startswith("2026-01-01")
    assert parse_period(parsed.name) == parsed


def test_export_and_report_refuse_sizes_outside_the_log(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("audit", "export", "--to", 5, "--out", tmp_path / "entries.jsonl")
    assert result.exit_code == 2 and "past the current tree size 0" in result.output
    result = run("transparency", "report", "--period", "2026-Q5", "--out", tmp_path)
    assert result.exit_code == 2 and "a period is" in result.output
    result = run("transparency", "report", "--period", "2026-Q3", "--from", "2026-07-01", "--out", tmp_path)
    assert result.exit_code == 2 and "not both" in result.output
