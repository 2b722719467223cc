"""The HTTP edge refuses everything that is not a valid, fresh, single-use signed request, with the
docs/PROTOCOL.md §6 code and status, and audits every request (issue 3)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from nacl.signing import SigningKey

from gateway.api.http.endpoint import GraphQLEndpoint
from gateway.principals.registry import PrincipalRegistry, Role
from tests.support.harness import Harness, running_gateway
from tests.support.jwt import b64url, kid_of, mint

WHOAMI = "{ whoami { id role } }"


def body_of(query: str = WHOAMI) -> bytes:
    return json.dumps({"query": query}).encode()


def assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["errors"][0]["extensions"]["code"] == code
    assert payload["errors"][0]["message"]
    assert "data" not in payload
    assert set(payload["extensions"]["audit"]) == {"request_id", "index", "leaf_hash"}


def test_signed_request_is_served_and_audited(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    response = gateway.post(bka, WHOAMI)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"whoami": {"id": "bka-de", "role": "authority"}}
    assert response.json()["extensions"]["audit"]["index"] == 0
    assert gateway.audit_size() == 1


def test_missing_or_non_bearer_authorization_is_unauthenticated(gateway: Harness) -> None:
    assert_refused(gateway.post(None, WHOAMI), 401, "UNAUTHENTICATED")
    assert_refused(gateway.post(None, WHOAMI, headers={"authorization": "Basic dXNlcjpwYXNz"}), 401,
                   "UNAUTHENTICATED")
    assert_refused(gateway.post(None, WHOAMI, headers={"authorization": "Bearer "}), 401, "UNAUTHENTICATED")


def test_a_request_without_a_bearer_header_is_refused_on_the_event_loop(gateway: Harness,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The flood flood control counts takes no worker thread; a signed request still takes one."""
    ran_in_threads: list[str] = []
    in_thread = GraphQLEndpoint.in_thread

    async def counted(self: GraphQLEndpoint, function: Callable[..., Any], *args: Any) -> Any:
        ran_in_threads.append(function.__name__)
        return await in_thread(self, function, *args)

    monkeypatch.setattr(GraphQLEndpoint, "in_thread", counted)
    assert_refused(gateway.post(None, WHOAMI), 401, "UNAUTHENTICATED")
    assert_refused(gateway.post(None, WHOAMI, headers={"authorization": "Basic dXNlcjpwYXNz"}), 401,
                   "UNAUTHENTICATED")
    assert ran_in_threads == []
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    assert gateway.post(bka, WHOAMI).status_code == 200
    assert ran_in_threads == ["_process"]
    assert gateway.audit_size() == 3


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda key, aud, body: mint(key, iss="bka-de", aud=aud, body=body,
                                                 header={"alg": "none", "typ": "JWT", "kid": kid_of(key)}),
                     id="alg-none"),
        pytest.param(lambda key, aud, body: "garbage", id="garbage"),
        pytest.param(lambda key, aud, body: mint(key, iss="bka-de", aud=aud, body=body)[:-10], id="truncated"),
        pytest.param(lambda key, aud, body: mint(key, iss="bka-de", aud=aud, body=body) + ".x", id="extra-segment"),
        pytest.param(lambda key, aud, body: mint(key, iss="bka-de", aud=aud, body=body,
                                                 header={"alg": "EdDSA", "typ": "JWT", "kid": "00" * 8}),
                     id="unknown-kid"),
        pytest.param(lambda key, aud, body: mint(SigningKey.generate(), iss="bka-de", aud=aud, body=body,
                                                 header={"alg": "EdDSA", "typ": "JWT", "kid": kid_of(key)}),
                     id="wrong-signature"),
        pytest.param(lambda key, aud, body: mint(key, iss="bka-de", aud=aud, body=body, drop=("jti",)),
                     id="missing-jti"),
        pytest.param(lambda key, aud, body: mint(key, iss="bka-de", aud=aud, body=body, drop=("body_sha256",)),
                     id="missing-body-hash"),
        pytest.param(lambda key, aud, body: mint(key, iss="bka-de", aud=aud, body=body, iat="now"),
                     id="mistyped-iat"),
        pytest.param(lambda key, aud, body: mint(key, iss="bka-de", aud=aud, body=body,
                                                 now=int(time.time()) + 600), id="issued-in-future"),
    ],
)
def test_bad_tokens_are_token_invalid(gateway: Harness, mutate) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    body = body_of()
    token = mutate(bka.signing_key, gateway.settings.id, body)
    assert_refused(gateway.post(None, body=body, token=token), 401, "TOKEN_INVALID")


def test_hs256_keyed_with_the_public_key_is_token_invalid(gateway: Harness) -> None:
    import hashlib
    import hmac

    bka = gateway.add(Role.AUTHORITY, "bka-de")
    body = body_of()
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid_of(bka.signing_key)}).encode())
    claims = b64url(json.dumps({"iss": "bka-de", "aud": gateway.settings.id, "iat": int(time.time()),
                                "exp": int(time.time()) + 60, "jti": "j1",
                                "body_sha256": hashlib.sha256(body).hexdigest()}).encode())
    public = base64.b64encode(bytes(bka.signing_key.verify_key))
    signature = hmac.new(public, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert_refused(gateway.post(None, body=body, token=f"{header}.{claims}.{b64url(signature)}"), 401,
                   "TOKEN_INVALID")


def test_expired_token(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    assert_refused(gateway.post(bka, WHOAMI, now=int(time.time()) - 200, lifetime=100), 401, "TOKEN_EXPIRED")


def test_token_lifetime_over_300_seconds(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    assert_refused(gateway.post(bka, WHOAMI, lifetime=301), 401, "TOKEN_LIFETIME_TOO_LONG")


def test_body_hash_mismatch(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    token = mint(bka.signing_key, iss="bka-de", aud=gateway.settings.id, body=body_of("{ whoami { name } }"))
    assert_refused(gateway.post(None, body=body_of(), token=token), 401, "TOKEN_BODY_MISMATCH")


def test_other_audience(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    body = body_of()
    token = mint(bka.signing_key, iss="bka-de", aud="another-gateway", body=body)
    assert_refused(gateway.post(None, body=body, token=token), 401, "TOKEN_AUDIENCE_MISMATCH")


def test_unknown_issuer(gateway: Harness) -> None:
    stranger = SigningKey.generate()
    body = body_of()
    token = mint(stranger, iss="nobody", aud=gateway.settings.id, body=body)
    assert_refused(gateway.post(None, body=body, token=token), 401, "UNKNOWN_PRINCIPAL")


def test_replayed_jti(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    body = body_of()
    token = mint(bka.signing_key, iss="bka-de", aud=gateway.settings.id, body=body)
    assert gateway.post(None, body=body, token=token).status_code == 200
    assert_refused(gateway.post(None, body=body, token=token), 401, "TOKEN_REPLAYED")


def test_replay_is_refused_by_a_second_app_on_the_same_database(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    body = body_of()
    token = mint(bka.signing_key, iss="bka-de", aud=gateway.settings.id, body=body)
    with running_gateway(gateway.settings) as second:
        assert second.post(None, body=body, token=token).status_code == 200
    assert_refused(gateway.post(None, body=body, token=token), 401, "TOKEN_REPLAYED")


def test_suspended_principal_is_refused_at_once(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    assert gateway.post(bka, WHOAMI).status_code == 200
    PrincipalRegistry(gateway.services.db).set_status("bka-de", "suspended")
    assert_refused(gateway.post(bka, WHOAMI), 401, "UNKNOWN_PRINCIPAL")


def test_retired_key_is_refused_and_new_key_works(gateway: Harness) -> None:
    from crypto.keys import encode_public_key

    bka = gateway.add(Role.AUTHORITY, "bka-de")
    registry = PrincipalRegistry(gateway.services.db)
    new_key = SigningKey.generate()
    registry.add_key("bka-de", encode_public_key(new_key.verify_key), now=int(time.time()))
    registry.retire_key("bka-de", kid_of(bka.signing_key), now=int(time.time()))
    assert_refused(gateway.post(bka, WHOAMI), 401, "TOKEN_INVALID")
    bka.signing_key = new_key
    assert gateway.post(bka, WHOAMI).status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(gateway: Harness, method: str) -> None:
    response = gateway.client.request(method, "/graphql", params={"query": WHOAMI})
    assert_refused(response, 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize("content_type", ["text/plain", "application/graphql", "multipart/form-data", ""])
def test_wrong_content_type_is_415(gateway: Harness, content_type: str) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    assert_refused(gateway.post(bka, WHOAMI, headers={"content-type": content_type}), 415, "UNSUPPORTED_MEDIA_TYPE")


def test_body_over_the_limit_is_413(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    big = json.dumps({"query": WHOAMI, "variables": {"pad": "x" * (gateway.settings.max_body_bytes + 1)}}).encode()
    assert_refused(gateway.post(bka, body=big), 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe{}", b'"just a string"', b'{"query": 5}',
                                  b'[{"query": "{ whoami { id } }"}]',
                                  b'{"query": "{ whoami { id } }", "variables": []}'])
def test_bodies_that_are_not_one_graphql_request_are_400(gateway: Harness, body: bytes) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    assert_refused(gateway.post(bka, body=body), 400, "BAD_REQUEST")


def test_graphql_parse_and_validation_failures(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    assert_refused(gateway.post(bka, "{ whoami { "), 400, "GRAPHQL_PARSE_FAILED")
    response = gateway.post(bka, "{ whoami { alice_1987 } }")
    assert_refused(response, 400, "GRAPHQL_VALIDATION_FAILED")
    assert "alice_1987" not in response.text
    assert "Did you mean" not in gateway.post(bka, "{ whoami { nam } }").text


def test_every_graphql_request_appends_exactly_one_entry(gateway: Harness) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    responses = [gateway.post(bka, WHOAMI), gateway.post(None, WHOAMI), gateway.client.get("/graphql"),
                 gateway.post(bka, body=b"{bad")]
    assert [r.json()["extensions"]["audit"]["index"] for r in responses] == [0, 1, 2, 3]
    gateway.client.get("/healthz")
    gateway.client.get("/.well-known/disclosure-gateway")
    assert gateway.audit_size() == 4


def test_health_readiness_and_discovery(gateway: Harness) -> None:
    assert gateway.client.get("/healthz").json() == {"status": "ok"}
    assert gateway.client.get("/readyz").status_code == 200
    discovery = gateway.client.get("/.well-known/disclosure-gateway").json()
    assert discovery["gateway_id"] == gateway.settings.id
    assert discovery["approvals_required"] == 2
    assert discovery["max_token_lifetime_s"] == 300
    assert discovery["sealing_algorithm"] == "x25519-xsalsa20poly1305-sealedbox"
    name, key_hash, key = discovery["checkpoint_verifier_key"].split("+", 2)
    assert name == discovery["checkpoint_origin"] and len(key_hash) == 8
    assert base64.b64decode(key)[0] == 1


@pytest.mark.parametrize(("claim", "value"), [("jti", "a\x00b"), ("jti", "with space"), ("ord", "ord\x00x"),
                                              ("ord", "o" * 65), ("iss", "bka-de\x00")])
def test_claims_the_gateway_would_store_must_be_plain_text(gateway: Harness, claim: str, value: str) -> None:
    """A NUL reaching PostgreSQL fails the write; with group commit it would fail other requests'
    audit entries too. Such claims are refused as TOKEN_INVALID / UNKNOWN_PRINCIPAL, and audited."""
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    body = body_of()
    issuer = value if claim == "iss" else "bka-de"
    token = mint(bka.signing_key, iss=issuer, aud=gateway.settings.id, body=body,
                 jti=value if claim == "jti" else None, ord=value if claim == "ord" else None)
    expected = "UNKNOWN_PRINCIPAL" if claim == "iss" else "TOKEN_INVALID"
    before = gateway.audit_size()
    assert_refused(gateway.post(None, body=body, token=token), 401, expected)
    assert gateway.audit_size() == before + 1
    assert gateway.post(bka, WHOAMI).status_code == 200
