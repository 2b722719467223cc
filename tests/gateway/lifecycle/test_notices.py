"""User notice through the HTTP app and the operator CLI (docs/PROTOCOL.md §16.4): a disclosed
subject is listed only after the order ended and its non-disclosure period ran out, once, and
`mark-sent` records the delivery in the audit log and removes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.config import Settings
from gateway.errors import OperatorError
from gateway.lifecycle.notices import Notices, notice_id
from tests.support.clock import Clock, gateway_clock, post_at
from tests.support.lifecycle import audit_entries
from tests.support.operator import operator_env
from tests.support.plaintext import leaks, secrets_of
from tests.support.platform import on_both_sources  # noqa: F401  (every test here on both subject sources)
from tests.support.world import APPROVE, DRAFT, REQUEST_WINDOW, World

START = datetime(2026, 12, 1, tzinfo=UTC)
SUBMIT = "mutation($i: LegalRequestInput!) { submitRequest(input: $i) { id nonDisclosureUntil } }"
DISCLOSE = "{ order { subjects { id phoneNumber { ciphertext } } } }"


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


post = post_at


def secret_order(world: World, clock: Clock, *, non_disclosure_until: str | None) -> tuple[str, str]:
    """A request on subjects 0 and 1 with a non-disclosure period, its order valid 10 days, approved."""
    request = {"caseReference": "AZ 4711/26", "court": "AG Tiergarten", "jurisdiction": "DE", "legalBasis": "StPO",
               "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32, "fields": ["phoneNumber", "ipAddresses"],
               "subjects": [{"id": world.subjects[0]["id"]}, {"id": world.subjects[1]["id"]}],
               "dataWindow": REQUEST_WINDOW, "justification": "j", "nonDisclosureUntil": non_disclosure_until}
    submitted = post(world, clock, world.authority, SUBMIT, {"i": request})
    assert submitted.status_code == 200, submitted.text
    request_id = submitted.json()["data"]["submitRequest"]["id"]
    order = post(world, clock, world.reviewers[0], DRAFT, {"i": {
        "requestId": request_id, "validUntil": "2026-12-11T00:00:00Z", "maxQueries": 5}}).json()["data"]["draftOrder"]
    if non_disclosure_until is not None:
        assert json.loads(order["document"])["non_disclosure_until"] == non_disclosure_until
    from crypto.signing import ORDER_DOMAIN, sign_over

    for reviewer in world.reviewers[:2]:
        signature = sign_over(ORDER_DOMAIN, order["document"].encode(), reviewer.signing_key)
        assert post(world, clock, reviewer, APPROVE, {"o": order["id"], "s": signature}).status_code == 200
    return request_id, order["id"]


def notices(world: World) -> Notices:
    services = world.gateway.services
    return services.notices


def test_a_notice_falls_due_only_after_the_non_disclosure_period_once_and_mark_sent_removes_it(
        world: World, clock: Clock) -> None:
    request_id, order_id = secret_order(world, clock, non_disclosure_until="2027-03-01T00:00:00Z")
    for _ in range(2):  # disclosed twice: still one notice
        assert post(world, clock, world.authority, DISCLOSE, order=order_id).status_code == 200
    assert notices(world).due(clock.now) == []  # the order is still running
    clock.advance(days=30)  # the order has expired; the non-disclosure period runs until March
    assert notices(world).due(clock.now) == []
    clock.now = datetime(2027, 3, 1, tzinfo=UTC)
    due = [n.as_json() for n in notices(world).due(clock.now)]
    subject_ids = sorted(s["id"] for s in world.subjects[:2])
    assert sorted(n["subject_id"] for n in due) == subject_ids
    assert due[0] == {"id": notice_id(request_id, due[0]["subject_id"]), "subject_id": due[0]["subject_id"],
                      "request_id": request_id, "case_reference": "AZ 4711/26", "jurisdiction": "DE",
                      "fields": ["phoneNumber"], "date": "2027-03-01T00:00:00Z"}
    marked = notices(world).mark_sent([due[0]["id"]], now=clock.now)
    assert [n.id for n in marked] == [due[0]["id"]]
    assert [n.subject_id for n in notices(world).due(clock.now)] == [due[1]["subject_id"]]
    with pytest.raises(OperatorError, match="not due notices"):
        notices(world).mark_sent([due[0]["id"]], now=clock.now)
    entry = audit_entries(world.gateway.services)[-1]
    assert entry["facts"] == [{"kind": "notice_sent", "notice": due[0]["id"], "request": request_id}]
    lines = [json.dumps(n) for n in due] + [json.dumps(e) for e in audit_entries(world.gateway.services)]
    assert leaks(lines, secrets_of(world.subjects)) == []


def test_without_a_non_disclosure_period_the_notice_falls_due_when_the_order_ends(world: World, clock: Clock) -> None:
    _, order_id = secret_order(world, clock, non_disclosure_until=None)
    assert post(world, clock, world.authority, DISCLOSE, order=order_id).status_code == 200
    clock.now = datetime(2026, 12, 10, 23, 59, tzinfo=UTC)
    assert notices(world).due(clock.now) == []
    clock.now = datetime(2026, 12, 11, tzinfo=UTC)
    assert {n.due for n in notices(world).due(clock.now)} == {clock.now}


def test_an_edited_non_disclosure_period_can_only_delay_a_notice(world: World, clock: Clock) -> None:
    from sqlalchemy import text

    request_id, order_id = secret_order(world, clock, non_disclosure_until="2027-03-01T00:00:00Z")
    assert post(world, clock, world.authority, DISCLOSE, order=order_id).status_code == 200
    with world.gateway.services.db.engine.begin() as connection:
        details = json.loads(connection.execute(text("SELECT details FROM legal_requests WHERE id = :i"),
                                                {"i": request_id}).scalar_one())
        details["non_disclosure_until"] = None
        connection.execute(text("UPDATE legal_requests SET details = :d WHERE id = :i"),
                           {"d": json.dumps(details), "i": request_id})
    clock.now = datetime(2027, 1, 1, tzinfo=UTC)
    assert notices(world).due(clock.now) == []  # the signed order document still says March


def test_the_operator_commands_list_and_mark_notices(world: World, settings: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    order = world.active_order()  # on the real clock, as the CLI runs
    assert world.gateway.post(world.authority, DISCLOSE, order=order["id"]).status_code == 200
    revoke = "mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"done\") { status } }"
    assert world.gateway.post(world.reviewers[0], revoke, variables={"o": order["id"]}).status_code == 200
    assert settings.database_url is not None
    operator_env(settings, monkeypatch)
    runner = CliRunner()
    due = runner.invoke(app, ["notices", "due"], catch_exceptions=False)
    assert due.exit_code == 0, due.output
    lines = [json.loads(line) for line in due.output.splitlines()]
    assert sorted(n["subject_id"] for n in lines) == sorted(json.loads(order["document"])["subjects"])
    assert leaks([due.output], secrets_of(world.subjects)) == []
    sent = runner.invoke(app, ["notices", "mark-sent", *(n["id"] for n in lines)], catch_exceptions=False)
    assert sent.exit_code == 0 and f"{len(lines)} notices recorded as sent" in sent.output
    none = runner.invoke(app, ["notices", "due"], catch_exceptions=False)
    assert none.exit_code == 0 and none.stdout == "" and none.stderr == "no notices are due\n"
    again = runner.invoke(app, ["notices", "mark-sent", lines[0]["id"]], catch_exceptions=False)
    assert again.exit_code == 2 and "not due" in again.output
    purge = runner.invoke(app, ["retention", "run", "--json"], catch_exceptions=False)
    assert purge.exit_code == 0, purge.output
    counts = json.loads(purge.output)
    if settings.subject_source == "embedded":
        assert counts["subjects_scanned"] == len(world.subjects) and counts["ip_events_deleted"] > 0
    else:  # retention keeps the embedded store, which holds nothing when the platform's database is the source
        assert counts["subjects_scanned"] == 0
    assert leaks([purge.output, again.output], secrets_of(world.subjects)) == []
