"""The client commands' local logic: what is checked before anything is signed or sent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from nacl.signing import SigningKey
from typer.testing import CliRunner, Result

from client.cli import query, request, review
from client.cli.options import fields_option, split_list
from client.errors import ClientError, UsageError
from client.operations import QueryTarget
from crypto.canonical import canonical_json
from crypto.keys import generate_signing_key, write_key_file
from crypto.signing import ORDER_DOMAIN, verify_signature_over
from tests.support.live import free_port

DOCUMENT = {"v": 1, "order_id": "ord_1", "request_id": "req_1", "authority_id": "bka-de", "fields": ["phoneNumber"],
            "subjects": ["sub_1"], "data_window": {"from": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"}}

cli = typer.Typer()
cli.add_typer(review.app, name="review")
cli.add_typer(request.app, name="request")
cli.command("query")(query.query)
cli.command("open")(query.open_)


@pytest.fixture
def run() -> Callable[..., Result]:
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args))


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens: reaching it would fail with "cannot connect"."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def signing_only(tmp_path: Path) -> Path:
    """A key PREFIX with only PREFIX.sign.key."""
    write_key_file(tmp_path / "me.sign.key", "ed25519-signing", bytes(generate_signing_key()))
    return tmp_path / "me"


def test_the_document_shown_is_the_document_signed() -> None:
    text = canonical_json(DOCUMENT).decode()
    assert review.checked_document({"document": text}, "ord_1") == DOCUMENT
    key = SigningKey.generate()
    verify_signature_over(ORDER_DOMAIN, text.encode(), review.approval_signature(text, key), key.verify_key)


@pytest.mark.parametrize(("text", "reason"), [
    (json.dumps(DOCUMENT, indent=1), "not in RFC 8785 canonical form"),
    ('{"order_id":"ord_1","order_id":"ord_2"}', "not one strict JSON object"),
    (canonical_json(DOCUMENT | {"order_id": "ord_2"}).decode(), "names another order"),
])
def test_a_document_that_could_be_read_two_ways_is_never_signed(text: str, reason: str) -> None:
    with pytest.raises(ClientError, match=reason):
        review.checked_document({"document": text}, "ord_1")


def test_a_draft_window_needs_both_ends() -> None:
    with pytest.raises(UsageError, match="both --from and --until"):
        review.draft_input("req_1", valid_until="2027-01-01T00:00:00Z", max_queries=1,
                           window_from="2026-01-01T00:00:00Z")
    assert review.draft_input("req_1", valid_until="2027-01-01T00:00:00Z", max_queries=3) == {
        "requestId": "req_1", "validUntil": "2027-01-01T00:00:00Z", "maxQueries": 3}


def test_a_request_needs_a_subject_and_a_sha256() -> None:
    common = {"case_reference": "AZ", "court": "AG", "jurisdiction": "DE", "legal_basis": "x",
              "offense_category": "fraud", "usernames": [], "subject_ids": [], "fields": ["phoneNumber"],
              "window_from": "2026-01-01T00:00:00Z", "window_until": "2026-02-01T00:00:00Z", "justification": "x"}
    with pytest.raises(UsageError, match="at least one subject"):
        request.request_input(court_order_digest="ab" * 32, phones=[], **common)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="64 hex characters"):
        request.request_input(court_order_digest="abc", phones=["+4915123456789"], **common)  # type: ignore[arg-type]
    built = request.request_input(court_order_digest="AB" * 32, phones=["+4915123456789"], **common)  # type: ignore[arg-type]
    assert (built["offenseCategory"], built["courtOrderSha256"]) == ("FRAUD", "ab" * 32)
    assert built["subjects"] == [{"phoneNumber": "+4915123456789"}]


def test_the_court_order_hash_is_computed_locally(tmp_path: Path) -> None:
    path = tmp_path / "order.pdf"
    content = b"%PDF-1.7 court order " * 100_000  # more than one read chunk
    path.write_bytes(content)
    assert request.court_order_sha256(path) == hashlib.sha256(content).hexdigest()
    with pytest.raises(UsageError, match="cannot read the court order"):
        request.court_order_sha256(tmp_path / "missing.pdf")


def test_fields_are_checked_against_the_schema_list() -> None:
    assert fields_option(["phoneNumber,ipAddresses", "phoneNumber"]) == ["phoneNumber", "ipAddresses"]
    with pytest.raises(UsageError, match=r"1 unknown field name \('phone'\); fields are phoneNumber, "):
        fields_option(["phone"])
    assert split_list([" a, b ", "", "a"]) == ["a", "b"]


@pytest.mark.parametrize("options", [{}, {"subject_id": "s", "phone": "p"}, {"phone": "p", "all_subjects": True}])
def test_a_query_selects_exactly_one_way(options: dict[str, object]) -> None:
    values: dict[str, object] = {"subject_id": None, "phone": None, "username": None, "all_subjects": False}
    with pytest.raises(UsageError, match="exactly one of"):
        QueryTarget.from_options(**(values | options))  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value", "rows"), [
    ("phoneNumber", "+4915123456789", [("+4915123456789", "")]),
    ("ipAddresses", [{"ip": "2001:db8::1", "port": 443, "first_seen": "a", "last_seen": "b"},
                     {"ip": "192.0.2.1", "first_seen": "c", "last_seen": "d"}],
     [("[2001:db8::1]:443", "a → b"), ("192.0.2.1", "c → d")]),
    ("usernameHistory", [{"username": "quiet_otter1", "from": "a"}], [("quiet_otter1", "a → now")]),
    ("devices", [], [("(none in the order's data window)", "")]),
])
def test_values_render_readably(field: str, value: object, rows: list[tuple[str, str]]) -> None:
    assert query.render_value(field, value) == rows


def test_approve_without_a_terminal_refuses_to_prompt_before_contacting_anyone(
        run: Callable[..., Result], signing_only: Path, closed_url: str) -> None:
    result = run("review", "approve", "ord_1", "--id", "rev-a", "--key", str(signing_only), "--url", closed_url)
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr


def test_query_without_the_sealing_key_fails_before_the_query_is_sent(
        run: Callable[..., Result], signing_only: Path, closed_url: str) -> None:
    result = run("query", "--order", "ord_1", "--id", "bka-de", "--key", str(signing_only), "--all",
                 "--fields", "phoneNumber", "--url", closed_url)
    assert result.exit_code == 2
    assert "me.seal.key does not exist" in result.stderr


def test_an_unreachable_gateway_exits_4_saying_where_and_what_to_start(
        run: Callable[..., Result], signing_only: Path, closed_url: str) -> None:
    result = run("review", "list", "--id", "rev-a", "--key", str(signing_only), "--url", closed_url)
    assert result.exit_code == 4
    assert closed_url in result.stderr
    assert "gateway serve" in result.stderr
