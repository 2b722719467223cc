"""The authority's side of a request through the commands, against the real app (in process):
`review clarify`, `request clarify-answer`, `request amend`, `request withdraw` (docs/PROTOCOL.md §17)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from client.cli import request, review, views
from client.http import GatewayClient
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import World

cli = typer.Typer()
cli.add_typer(review.app, name="review")
cli.add_typer(request.app, name="request")
AUTHORITY = ("--id", "bka-de", "--key", "k")
REVIEWER = ("--id", "reviewer-a", "--key", "k")


@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    actors = {a.id: a for a in [world.authority, world.auditor, world.other_authority, *world.reviewers]}

    def connect(url: str, principal_id: str, key: Path, **_: Any) -> GatewayClient:
        return GatewayClient("http://testserver/", principal_id, actors[principal_id].signing_key,
                             http_client=world.gateway.client)

    monkeypatch.setattr(request, "connect", connect)
    monkeypatch.setattr(review, "connect", connect)
    monkeypatch.setattr(views, "connect", connect)
    runner = CliRunner()
    outputs: list[str] = []

    def invoke(*args: str) -> Result:
        result = runner.invoke(cli, list(args), terminal_width=200)
        outputs.append(result.output)
        return result

    yield invoke
    assert leaks(outputs, secrets_of(world.subjects)) == []


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_conversation_through_the_commands(world: World, run: Callable[..., Result]) -> None:
    request_id = world.submit()
    asked = run("review", "clarify", request_id, *REVIEWER, "--question", "which account paid?")
    assert asked.exit_code == 0 and "NEEDS_CLARIFICATION" in asked.output, asked.output
    answered = as_json(run("request", "clarify-answer", request_id, *AUTHORITY, "--answer", "the second one",
                           "--fields", "phoneNumber", "--json"))
    assert (answered["status"], answered["version"]) == ("PENDING", 2)
    assert [(m["kind"], m["text"]) for m in answered["clarifications"]] == [
        ("QUESTION", "which account paid?"), ("ANSWER", "the second one")]
    assert answered["versions"][1]["changes"][0]["field"] == "fields"

    nothing = run("request", "amend", request_id, *AUTHORITY)
    assert nothing.exit_code == 2 and "name what to change" in nothing.output
    half = run("request", "amend", request_id, *AUTHORITY, "--from", "2026-02-01T00:00:00Z")
    assert half.exit_code == 2 and "--until" in half.output
    amended = run("request", "amend", request_id, *AUTHORITY, "--legal-basis", "§ 100a StPO",
                  "--from", "2026-02-01T00:00:00Z", "--until", "2026-03-01T00:00:00Z")
    assert amended.exit_code == 0 and "version 3" in amended.output, amended.output
    assert "legalBasis" in amended.output and "dataWindow" in amended.output

    withdrawn = run("request", "withdraw", request_id, *AUTHORITY, "--reason", "case closed")
    assert withdrawn.exit_code == 0 and "withdrawn" in withdrawn.output and "case closed" in withdrawn.output
    again = run("request", "withdraw", request_id, *AUTHORITY, "--reason", "case closed")
    assert again.exit_code != 0 and "REQUEST_WITHDRAWN" in again.output, again.output
    shown = as_json(run("review", "show", request_id, *REVIEWER, "--json"))
    assert shown["status"] == "WITHDRAWN" and shown["clarifications"][0]["by"] == "reviewer-a"
