"""The principals' new commands against the real app (in process): `request submit --emergency`,
`review verify-emergency`, `request attach-court-order`, `request preserve`, `review preservations`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from client.cli import request, review
from client.http import GatewayClient
from crypto.keys import write_key_file
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import World

cli = typer.Typer()
cli.add_typer(review.app, name="review")
cli.add_typer(request.app, name="request")


@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    actors = {a.id: a for a in [world.authority, world.auditor, world.other_authority, *world.reviewers]}

    def connect(url: str, principal_id: str, key: Path, **_: Any) -> GatewayClient:
        return GatewayClient("http://testserver/", principal_id, actors[principal_id].signing_key,
                             http_client=world.gateway.client)

    monkeypatch.setattr(request, "connect", connect)
    monkeypatch.setattr(review, "connect", connect)
    runner = CliRunner()
    outputs: list[str] = []

    def invoke(*args: str) -> Result:
        result = runner.invoke(cli, list(args))
        outputs.append(result.output)
        return result

    yield invoke
    assert leaks(outputs, secrets_of(world.subjects)) == []


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def emergency_submission(world: World) -> list[str]:
    return ["request", "submit", "--id", "bka-de", "--key", "k", "--case-reference", "EIL 1", "--court", "none",
            "--jurisdiction", "DE", "--legal-basis", "Gefahr im Verzug", "--offense-category", "violent_crime",
            "--fields", "phoneNumber,ipAddresses", "--from", "2026-01-01T00:00:00Z",
            "--until", "2026-11-01T00:00:00Z", "--justification", "kidnapping",
            "--subject-id", world.subjects[0]["id"], "--emergency", "--json"]


def test_an_emergency_through_the_commands(world: World, run: Callable[..., Result]) -> None:
    submit = emergency_submission(world)
    missing = run(*submit)
    assert missing.exit_code == 2 and "--imminent-risk" in missing.output
    created = as_json(run(*submit, "--imminent-risk", "a life is threatened"))
    assert created["emergency"] is True and created["courtOrderSha256"] is None
    verified = as_json(run("review", "verify-emergency", created["id"], "--id", "reviewer-a", "--key", "k",
                           "--method", "callback_known_number", "--note", "called the duty desk", "--json"))
    assert verified["verification"]["by"] == "reviewer-a"
    order = as_json(run("review", "draft", created["id"], "--id", "reviewer-a", "--key", "k",
                        "--valid-until", "2027-06-01T00:00:00Z", "--max-queries", "3", "--json"))
    assert json.loads(order["document"])["emergency"]["verification"]["method"] == "CALLBACK_KNOWN_NUMBER"
    assert world.approve(order, world.reviewers[1]).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    attached = as_json(run("request", "attach-court-order", created["id"], "--id", "bka-de", "--key", "k",
                           "--court-order-sha256", "ef" * 32, "--json"))
    assert attached["courtOrderSha256"] == "ef" * 32
    again = run("request", "attach-court-order", created["id"], "--id", "bka-de", "--key", "k",
                "--court-order-sha256", "ef" * 32)
    assert again.exit_code != 0 and "attached to this request already" in again.output


def test_drafting_an_emergency_before_its_verification_is_refused_up_front(
        world: World, run: Callable[..., Result]) -> None:
    created = as_json(run(*emergency_submission(world), "--imminent-risk", "a life is threatened"))
    draft = ["review", "draft", created["id"], "--id", "reviewer-a", "--key", "k",
             "--valid-until", "2027-06-01T00:00:00Z", "--max-queries", "3"]
    refused = run(*draft)
    assert refused.exit_code == 2 and "verify-emergency" in refused.output, refused.output
    shown = world.gateway.post(world.reviewers[0], "query($id: ID!) { requestById(id: $id) { orderIds } }",
                               variables={"id": created["id"]})
    assert shown.json()["data"]["requestById"]["orderIds"] == []  # nothing was drafted
    run("review", "verify-emergency", created["id"], "--id", "reviewer-a", "--key", "k",
        "--method", "callback_known_number", "--note", "called back")
    assert run(*draft).exit_code == 0


def test_the_verifiers_own_approval_is_accepted_with_a_line_that_says_it_does_not_count(
        world: World, run: Callable[..., Result], tmp_path: Path) -> None:
    created = as_json(run(*emergency_submission(world), "--imminent-risk", "a life is threatened"))
    verifier, other = world.reviewers[0], world.reviewers[1]
    assert as_json(run("review", "verify-emergency", created["id"], "--id", verifier.id, "--key", "k",
                       "--method", "callback_known_number", "--note", "called back", "--json")
                   )["verification"]["by"] == verifier.id
    order = world.draft(created["id"])
    for reviewer in (verifier, other):
        write_key_file(tmp_path / f"{reviewer.id}.sign.key", "ed25519-signing", bytes(reviewer.signing_key))
    own = run("review", "approve", order["id"], "--id", verifier.id, "--key", str(tmp_path / verifier.id), "--yes")
    assert own.exit_code == 0, own.output
    assert "does not count toward activation" in own.output and "PENDING" in own.output
    counted = run("review", "approve", order["id"], "--id", other.id, "--key", str(tmp_path / other.id), "--yes")
    assert counted.exit_code == 0, counted.output
    assert "does not count" not in counted.output


def test_a_preservation_through_the_commands(world: World, run: Callable[..., Result]) -> None:
    until = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hold = as_json(run("request", "preserve", "--id", "bka-de", "--key", "k", "--case-reference", "AZ 1",
                       "--jurisdiction", "DE", "--legal-basis", "StPO", "--until", until,
                       "--phone", world.subjects[0]["phone"], "--json"))
    assert hold["status"] == "PENDING" and "subjectIds" not in hold
    listed = as_json(run("review", "preservations", "--id", "reviewer-b", "--key", "k", "--grant", hold["id"],
                         "--json"))
    assert listed["decided"]["status"] == "GRANTED" and listed["decided"]["subjectIds"] == [world.subjects[0]["id"]]
    assert listed["counts"] == [{"country": "DE", "pending": 0, "granted": 1, "rejected": 0, "active": 1,
                                 "extended": 0}]
    table = run("review", "preservations", "--id", "reviewer-b", "--key", "k")
    assert table.exit_code == 0 and hold["id"] in table.output and "per country" in table.output
    later = (datetime.now(UTC) + timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    extended = as_json(run("request", "preserve", "--id", "bka-de", "--key", "k", "--until", later,
                           "--extend", hold["id"], "--json"))
    assert extended["extended"] is True


def test_approve_json_is_the_approved_order_alone_on_stdout(world: World, run: Callable[..., Result],
                                                            tmp_path: Path) -> None:
    order = world.draft(world.submit())
    reviewer = world.reviewers[1]
    write_key_file(tmp_path / "reviewer.sign.key", "ed25519-signing", bytes(reviewer.signing_key))
    result = run("review", "approve", order["id"], "--id", reviewer.id, "--key", str(tmp_path / "reviewer"),
                 "--yes", "--json")
    assert result.exit_code == 0, result.output
    approved = json.loads(result.stdout)  # the document shown before signing went to stderr
    assert approved["id"] == order["id"] and approved["approvals"] == 1 and approved["document"] == order["document"]
    assert "this is what you sign" in result.stderr
