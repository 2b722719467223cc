"""GatewayClient against the in-process app (Starlette's TestClient is an httpx.Client), and
against stub transports for what a real gateway never answers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey

from client.audit_ref import AuditRef
from client.errors import ClientError, GatewayRefused, GatewayResponseError, GatewayUnreachable
from client.http import TOKEN_LIFETIME_S, GatewayClient
from client.operations import SUBMIT_REQUEST
from crypto.keys import encode_public_key
from crypto.note import verifier_key_string
from crypto.tokens import verify_token
from tests.support.harness import Actor, Harness
from tests.support.live import free_port
from tests.support.world import World

WHOAMI = "{ whoami { id role } }"


@pytest.fixture
def connect(world: World) -> Callable[..., GatewayClient]:
    """Factory: a GatewayClient for an actor, through the harness's in-process client. Its
    responses join the harness's bodies, so the world's plaintext guard searches them too."""
    gateway: Harness = world.gateway

    def keep_body(response: httpx.Response) -> None:
        response.read()
        gateway.bodies.append(response.text)

    gateway.client.event_hooks["response"].append(keep_body)

    def factory(actor: Actor, **options: Any) -> GatewayClient:
        return GatewayClient("http://testserver", actor.id, actor.signing_key, http_client=gateway.client, **options)

    return factory


def stub(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def discovery(key: SigningKey, **overrides: Any) -> dict[str, Any]:
    document = {"gateway_id": "gw.stub", "checkpoint_origin": "gw.stub/audit",
                "checkpoint_verifier_key": verifier_key_string("gw.stub/audit", bytes(key.verify_key)),
                "gateway_signing_key": encode_public_key(key.verify_key), "approvals_required": 2}
    return document | overrides


def test_execute_returns_the_data_and_the_audit_reference(world: World, connect: Callable[..., GatewayClient]) -> None:
    result = connect(world.reviewers[0]).execute(WHOAMI)
    assert result.data == {"whoami": {"id": "reviewer-a", "role": "reviewer"}}
    assert isinstance(result.audit, AuditRef)
    assert result.audit.request_id.startswith("req_")
    assert result.audit.index == world.gateway.audit_size() - 1
    assert json.loads(result.raw)["extensions"]["audit"] == result.audit.as_json()


def test_discovery_is_fetched_once_and_gives_audience_and_gateway_key(
        world: World, connect: Callable[..., GatewayClient]) -> None:
    fetched: list[str] = []
    world.gateway.client.event_hooks["request"].append(
        lambda request: fetched.append(request.url.path) if request.method == "GET" else None)
    client = connect(world.reviewers[0])
    for _ in range(3):
        client.execute(WHOAMI)
    assert fetched == ["/.well-known/disclosure-gateway"]
    assert client.audience == world.gateway.settings.id
    assert bytes(client.gateway_key) == bytes(world.gateway.services.keys.signing_key.verify_key)


def test_the_same_operation_twice_gets_two_tokens_so_neither_is_a_replay(
        world: World, connect: Callable[..., GatewayClient]) -> None:
    client = connect(world.reviewers[0])
    assert client.execute(WHOAMI).data == client.execute(WHOAMI).data


@pytest.mark.parametrize(("who", "code", "status"), [
    ("reviewer", "FORBIDDEN_ROLE", 403),
    ("stranger", "UNKNOWN_PRINCIPAL", 401),
])
def test_a_refusal_raises_with_its_code_message_status_and_audit_entry(
        world: World, connect: Callable[..., GatewayClient], who: str, code: str, status: int) -> None:
    actor = world.reviewers[0] if who == "reviewer" else Actor("nobody", world.authority.role, SigningKey.generate())
    request = {"caseReference": "x", "court": "x", "jurisdiction": "DE", "legalBasis": "x",
               "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32, "subjects": [{"id": "sub_x"}],
               "fields": ["phoneNumber"], "dataWindow": {"from": "2026-01-01T00:00:00Z",
                                                          "until": "2026-02-01T00:00:00Z"}, "justification": "x"}
    with pytest.raises(GatewayRefused) as refused:
        connect(actor).execute(SUBMIT_REQUEST, {"input": request})
    assert (refused.value.code, refused.value.status) == (code, status)
    assert refused.value.message
    assert str(refused.value).startswith(f"{code}: ")
    assert refused.value.audit is not None
    assert refused.value.audit.index == world.gateway.audit_size() - 1


def test_a_field_outside_the_order_is_refused_with_field_not_permitted(
        world: World, connect: Callable[..., GatewayClient]) -> None:
    order = world.active_order()
    with pytest.raises(GatewayRefused) as refused:
        connect(world.authority).execute("{ order { subjects { id devices { ciphertext } } } }", order_id=order["id"])
    assert refused.value.code == "FIELD_NOT_PERMITTED"
    assert refused.value.status == 403


def test_a_token_for_another_audience_is_refused(world: World, connect: Callable[..., GatewayClient]) -> None:
    with pytest.raises(GatewayRefused, match="TOKEN_AUDIENCE_MISMATCH"):
        connect(world.reviewers[0], audience="another.gateway").execute(WHOAMI)


def test_the_token_signs_exactly_the_body_sent_with_a_60_s_lifetime_and_the_order() -> None:
    key = SigningKey.generate()
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=discovery(key))
        sent.append(request)
        return httpx.Response(200, json={"data": {"ok": True},
                                          "extensions": {"audit": {"request_id": "req_1", "index": 0,
                                                                   "leaf_hash": "AA=="}}})

    client = GatewayClient("http://gw.test/", "bka-de", key, http_client=stub(handler), clock=lambda: 1_800_000_000)
    client.execute("query($p: String!) { x(p: $p) }", {"p": "+49 151 ünïcode"}, order_id="ord_1")
    client.execute("query($p: String!) { x(p: $p) }", {"p": "+49 151 ünïcode"}, order_id="ord_1")
    first, second = sent
    token = first.headers["authorization"].removeprefix("Bearer ")
    claims = verify_token(token, verify_key=key.verify_key, audience="gw.stub", body=first.content,
                          now=1_800_000_000)
    assert (claims.issuer, claims.order_id) == ("bka-de", "ord_1")
    assert claims.expires_at - claims.issued_at == TOKEN_LIFETIME_S
    assert json.loads(first.content)["variables"] == {"p": "+49 151 ünïcode"}
    assert first.headers["content-type"] == "application/json"
    second_claims = verify_token(second.headers["authorization"].removeprefix("Bearer "), verify_key=key.verify_key,
                                 audience="gw.stub", body=second.content, now=1_800_000_000)
    assert second_claims.jti != claims.jti


def test_a_closed_port_is_unreachable_and_the_message_says_to_start_gateway_serve() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(GatewayUnreachable) as unreachable:
        GatewayClient(url, "bka-de", SigningKey.generate(), timeout=2).execute(WHOAMI)
    assert url in unreachable.value.message
    assert "gateway serve" in unreachable.value.message
    assert time.monotonic() - started < 5


def test_an_answer_that_is_not_json_is_a_response_error_not_a_refusal() -> None:
    key = SigningKey.generate()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=discovery(key))
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    with pytest.raises(GatewayResponseError, match="HTTP 502 with a body that is not JSON"):
        GatewayClient("http://gw.test", "bka-de", key, http_client=stub(handler)).execute(WHOAMI)


def test_a_refusal_without_a_code_is_still_a_refusal() -> None:
    key = SigningKey.generate()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=discovery(key))
        return httpx.Response(400, json={"errors": [{"message": "nope"}]})

    with pytest.raises(GatewayRefused) as refused:
        GatewayClient("http://gw.test", "bka-de", key, http_client=stub(handler)).execute(WHOAMI)
    assert (refused.value.code, refused.value.status, refused.value.audit) == ("UNKNOWN", 400, None)


def test_discovery_naming_two_different_gateway_keys_is_refused() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    document = discovery(key, gateway_signing_key=encode_public_key(other.verify_key))
    client = GatewayClient("http://gw.test", "bka-de", key,
                           http_client=stub(lambda _: httpx.Response(200, json=document)))
    with pytest.raises(ClientError, match="two different gateway keys"):
        client.execute(WHOAMI)


def test_discovery_without_gateway_signing_key_falls_back_to_the_checkpoint_verifier_key() -> None:
    key = SigningKey.generate()
    document = discovery(key)
    del document["gateway_signing_key"]
    client = GatewayClient("http://gw.test", "bka-de", key,
                           http_client=stub(lambda _: httpx.Response(200, json=document)))
    assert bytes(client.gateway_key) == bytes(key.verify_key)


def test_a_pinned_gateway_key_that_discovery_contradicts_is_refused() -> None:
    key, pinned = SigningKey.generate(), SigningKey.generate()
    client = GatewayClient("http://gw.test", "bka-de", key, gateway_key=pinned.verify_key,
                           http_client=stub(lambda _: httpx.Response(200, json=discovery(key))))
    with pytest.raises(ClientError, match="not the pinned key"):
        client.execute(WHOAMI)


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://gw.test", "http://"])
def test_a_url_that_is_not_a_gateway_url_is_refused_before_anything_is_sent(url: str) -> None:
    with pytest.raises(ClientError, match="is not a gateway URL"):
        GatewayClient(url, "bka-de", SigningKey.generate())
