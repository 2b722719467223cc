"""`gateway request watch` against the real app (in process): the authority's events as they come,
as rows or JSON lines; polls back off while the feed is quiet; Ctrl-C ends it with exit code 0."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from client.cli import request
from client.cli.request import follow_events
from client.http import GatewayClient
from tests.support.world import World

cli = typer.Typer()
cli.add_typer(request.app, name="request")
REJECT = "mutation($r: ID!, $why: String!) { rejectRequest(requestId: $r, reason: $why) { status } }"


def client_for(world: World, principal_id: str = "bka-de") -> GatewayClient:
    actors = {a.id: a for a in [world.authority, world.other_authority]}
    return GatewayClient("http://testserver/", principal_id, actors[principal_id].signing_key,
                         http_client=world.gateway.client)


@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    monkeypatch.setattr(request, "connect", lambda url, principal_id, key, **_: client_for(world, principal_id))
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["request", "watch", "--id", "bka-de", "--key", "k", *args])


def test_watch_once_prints_each_event_as_a_json_line(world: World, run: Callable[..., Result]) -> None:
    order = world.active_order()
    request_id = world.submit()
    world.gateway.post(world.reviewers[0], REJECT, variables={"r": request_id, "why": "overbroad"})
    result = run("--once", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["type"], e["orderId"] or e["requestId"], e["state"]) for e in lines] == [
        ("order.activated", order["id"], "ACTIVE"), ("request.rejected", request_id, "REJECTED")]
    again = run("--once", "--json", "--after", lines[0]["cursor"])
    assert [json.loads(line)["type"] for line in again.output.splitlines()] == ["request.rejected"]


def test_watch_prints_rows_and_where_to_continue(world: World, run: Callable[..., Result]) -> None:
    order = world.active_order()
    result = run("--once")
    assert result.exit_code == 0, result.output
    assert "order.activated" in result.output and order["id"] in result.output and "ACTIVE" in result.output
    assert "continue with --after" in result.output


def test_follow_backs_off_while_quiet_and_stops_on_ctrl_c(world: World) -> None:
    waits: list[float] = []
    shown: list[dict[str, Any]] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            world.active_order()  # something happens while the watcher waits
        if len(waits) == 6:
            raise KeyboardInterrupt

    cursor = follow_events(client_for(world), after=None, interval=1, max_interval=4, show=shown.append, sleep=sleep)
    assert waits == [2, 4, 1, 2, 4, 4]  # doubling while quiet, capped; back to the interval once one came
    assert [e["type"] for e in shown] == ["order.activated"] and cursor == shown[0]["cursor"]


def test_watch_exits_zero_on_ctrl_c(world: World, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(request.operations, "request_events", interrupted)
    assert run("--json").exit_code == 0


def test_watch_refuses_a_cursor_it_never_gave(run: Callable[..., Result]) -> None:
    result = run("--once", "--after", "abc")
    assert result.exit_code != 0 and "cursor" in result.output


def test_another_authoritys_watch_sees_nothing_of_it(world: World) -> None:
    world.active_order()
    assert follow_events(client_for(world, "police-fr"), after=None, interval=1, max_interval=1,
                         show=lambda e: pytest.fail(str(e)), once=True) == "0"
