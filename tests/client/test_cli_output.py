"""What the client commands print for a person: tables that keep ids, codes and times whole at any
width, plain words instead of Python reprs, and plurals that agree with their counts."""

from __future__ import annotations

import secrets

import pytest
from rich.console import Console

from client.cli import query, review, views
from client.cli.tables import Col, print_table
from client.cli.words import plain, plural

WINDOW = {"from": "2026-09-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}


def _request() -> dict[str, object]:
    # Ids as the gateway mints them: a prefix and 20 hex digits (gateway/values/ids.py).
    return {"id": f"lrq_{secrets.token_hex(10)}", "status": "PENDING", "authorityId": "bka-de",
            "caseReference": "AZ 123/26 Js", "offenseCategory": "CHILD_EXPLOITATION",
            "fields": ["phoneNumber", "ipAddresses", "devices", "usernameHistory"], "dataWindow": WINDOW,
            "orderIds": [f"ord_{secrets.token_hex(10)}", f"ord_{secrets.token_hex(10)}"],
            "resolvedSubjectIds": [f"sub_{secrets.token_hex(6)}"], "unresolvedSelectors": 1}


def _whole_on_one_line(text: str, values: list[str]) -> list[str]:
    """The values that do not appear unbroken on some line of ``text``."""
    lines = text.splitlines()
    return [value for value in values if not any(value in line for line in lines)]


def _ids_and_times(requests: list[dict[str, object]]) -> list[str]:
    found: list[str] = [WINDOW["from"], WINDOW["until"]]
    for r in requests:
        found += [str(r["id"]), str(r["offenseCategory"]), *(str(o) for o in r["orderIds"])]  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("reviewer", [False, True])
@pytest.mark.parametrize("width", [60, 80, 100, 140, 200])
def test_a_request_list_keeps_every_id_code_and_time_whole_at_any_width(reviewer: bool, width: int) -> None:
    requests = [_request() for _ in range(3)]
    screen = Console(width=width, record=True)
    views.print_requests(requests, reviewer=reviewer, target=screen)
    text = screen.export_text()
    assert _whole_on_one_line(text, _ids_and_times(requests)) == []
    assert all(len(line) <= width for line in text.splitlines() if "│" in line or "┃" in line)


def test_at_80_columns_a_request_list_is_records_one_key_a_line() -> None:
    requests = [_request() for _ in range(2)]
    screen = Console(width=80, record=True)
    views.print_requests(requests, reviewer=True, target=screen)
    records = screen.export_text().split("\n\n")
    assert len(records) == 2
    for request, record in zip(requests, records, strict=True):
        lines = record.strip("\n").splitlines()
        assert lines[0] == f"request: {request['id']}"
        assert "offense: CHILD_EXPLOITATION" in lines
        assert f"data window: {WINDOW['from']} → {WINDOW['until']}" in lines
        orders: list[str] = request["orderIds"]  # type: ignore[assignment]
        assert f"orders: {orders[0]}" in lines and f"        {orders[1]}" in lines


def test_a_wide_terminal_gets_the_table() -> None:
    requests = [_request()]
    screen = Console(width=220, record=True)
    views.print_requests(requests, target=screen)
    text = screen.export_text()
    header = next(line for line in text.splitlines() if "request" in line)
    assert "┃" in header and "data window" in header
    assert _whole_on_one_line(text, _ids_and_times(requests)) == []


@pytest.mark.parametrize("width", [80, 120])
def test_disclosed_values_keep_subject_ids_and_addresses_whole(width: int) -> None:
    subject = f"sub_{secrets.token_hex(6)}"
    address = "[2001:db8:85a3:8d3:1319:8a2e:370:7348]:443"
    rows = [[subject, "ipAddresses", address, "2026-09-02T10:00:00Z → 2026-09-03T11:00:00Z"],
            ["", "", "192.0.2.1", "2026-09-04T10:00:00Z → now"]]
    screen = Console(width=width, record=True)
    print_table(screen, query.VALUE_COLUMNS, rows, title="order ord_x")
    assert _whole_on_one_line(screen.export_text(), [subject, address, "2026-09-02T10:00:00Z",
                                                     "2026-09-03T11:00:00Z", "192.0.2.1"]) == []


def test_a_record_leaves_out_empty_cells_and_keeps_multi_line_cells_aligned() -> None:
    screen = Console(width=30, record=True)
    print_table(screen, [Col("id", whole=True), Col("note")], [["x" * 40, ""], ["y" * 40, "a\nb"]], title="t")
    assert screen.export_text() == f"t\nid: {'x' * 40}\n\nid: {'y' * 40}\nnote: a\n      b\n"


@pytest.mark.parametrize(("count", "noun", "many", "text"), [
    (1, "approval", None, "1 approval"), (2, "approval", None, "2 approvals"), (0, "approval", None, "0 approvals"),
    (1, "entry", None, "1 entry"), (10, "entry", None, "10 entries"), (3, "key", None, "3 keys"),
    (2, "sealed value", None, "2 sealed values"), (2, "query", "queries", "2 queries"), (2, "box", None, "2 boxes"),
])
def test_plural(count: int, noun: str, many: str | None, text: str) -> None:
    assert plural(count, noun, many) == text


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (False, "no"), (True, "yes"), (["devices"], "devices"), (["a", "b"], "a, b"), ([], "-"),
    ({"a": None}, "a: -"), (0, "0"), ("x", "x"),
])
def test_plain(value: object, text: str) -> None:
    assert plain(value) == text


def _no_repr(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(label, value) for label, value in rows
            if value in ("None", "True", "False") or "['" in value or "[]" in value]


def test_a_request_with_absent_fields_reads_as_plain_words() -> None:
    sparse = {"id": "lrq_1", "status": "PENDING", "fields": ["devices"], "court": None, "emergency": False,
              "resolvedSubjectIds": [], "unresolvedSelectors": None, "orderIds": None}
    rows = dict(views.request_rows(sparse))
    assert _no_repr(list(rows.items())) == []
    assert (rows["court"], rows["fields"], rows["emergency"], rows["unresolved selectors"]) == \
        ("-", "devices", "no", "-")


def test_a_preservation_reads_yes_and_no_not_true_and_false() -> None:
    rows = dict(views.preservation_rows({"id": "prs_1", "active": False, "extended": True, "grantedUntil": None,
                                         "subjectIds": [], "unresolvedSelectors": 0}))
    assert _no_repr(list(rows.items())) == []
    assert (rows["active"], rows["extended"], rows["granted until"]) == ("no", "yes", "-")


@pytest.mark.parametrize(("approvals", "required", "most", "text"), [
    (0, 1, 1, "order ord_1: DRAFT (0 of 1 approval; 0 of 1 query used)"),
    (1, 2, 5, "order ord_1: DRAFT (1 of 2 approvals; 0 of 5 queries used)"),
])
def test_an_order_summary_counts_in_words(approvals: int, required: int, most: int, text: str) -> None:
    order = {"id": "ord_1", "status": "DRAFT", "approvals": approvals, "approvalsRequired": required,
             "queriesUsed": 0, "maxQueries": most}
    assert review.order_summary(order) == text
