"""Hostile input (issue 7): each case gets its exact docs/PROTOCOL.md §6 code and status, no ``data``,
and exactly one audit entry — the one its ``extensions.audit`` names (§7).

test_http_edge.py pins the edge's messages and bodies for many of these tokens and bodies; here
every hostile input is also held to the audit accounting, and the cases it lacks are added:
each required claim, jti length, oversized headers, GraphQL bombs, order states, and the
selector oracle. The ``world`` fixture fails any test whose responses or logs carry plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nacl.signing import SigningKey

from gateway.principals.registry import PrincipalRegistry
from gateway.subjects.normalise import normalise_phone
from tests.support.harness import Harness
from tests.support.jwt import b64url, kid_of, mint
from tests.support.world import World

WHOAMI = "{ whoami { id } }"
ORDER_ID_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
RECEIPT = {"request_id", "index", "leaf_hash"}
SEALED = "{ ciphertext }"


def body_of(query: str, **extra: Any) -> bytes:
    return json.dumps({"query": query} | extra).encode()


def audited_once(gateway: Harness, send: Callable[[], Any], status: int, code: str | None) -> Any:
    """Send, then hold the response to its status and §6 code and the log to one new entry."""
    before = gateway.audit_size()
    response = send()
    assert response.status_code == status, response.text
    payload = response.json()
    if code is None and status == 200:
        assert "errors" not in payload and "data" in payload
    elif code is not None:
        assert [e["extensions"]["code"] for e in payload["errors"]] == [code], response.text
        assert all(e["message"] for e in payload["errors"])
        assert "data" not in payload
    receipt = payload["extensions"]["audit"]
    assert set(receipt) == RECEIPT and receipt["index"] == before
    assert gateway.audit_size() == before + 1, "one request, one audit entry"
    return response


def entry(gateway: Harness, index: int) -> dict[str, Any]:
    from sqlalchemy import text

    with gateway.services.db.engine.connect() as conn:
        return dict(json.loads(conn.execute(text("SELECT entry FROM audit_entries WHERE idx = :i"),
                                            {"i": index}).scalar_one()))


# ---------------------------------------------------------------------------------------------
# Tokens


def _header(key: SigningKey, **override: Any) -> dict[str, Any]:
    return {"alg": "EdDSA", "typ": "JWT", "kid": kid_of(key)} | override


def _hs256_with_public_key(world: World, body: bytes) -> str:
    key = world.authority.signing_key
    head = b64url(json.dumps(_header(key, alg="HS256")).encode())
    claims = b64url(json.dumps({"iss": "bka-de", "aud": world.gateway.settings.id, "iat": int(time.time()),
                                "exp": int(time.time()) + 60, "jti": "hs256",
                                "body_sha256": hashlib.sha256(body).hexdigest()}).encode())
    public = base64.b64encode(bytes(key.verify_key))
    signature = hmac.new(public, f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return f"{head}.{claims}.{b64url(signature)}"


def _token(world: World, body: bytes, **args: Any) -> str:
    return mint(world.authority.signing_key, iss="bka-de", aud=world.gateway.settings.id, body=body, **args)


TokenFactory = Callable[[World, bytes], str]
TOKENS: list[tuple[str, TokenFactory, str]] = [
    ("alg-none", lambda w, b: _token(w, b, header=_header(w.authority.signing_key, alg="none")), "TOKEN_INVALID"),
    ("alg-none-unsigned", lambda w, b: _token(w, b, header=_header(w.authority.signing_key, alg="none"))
     .rsplit(".", 1)[0] + ".", "TOKEN_INVALID"),
    ("hs256-keyed-with-the-public-key", _hs256_with_public_key, "TOKEN_INVALID"),
    ("kid-of-another-principals-key", lambda w, b: mint(w.reviewers[0].signing_key, iss="bka-de",
                                                        aud=w.gateway.settings.id, body=b), "TOKEN_INVALID"),
    ("kid-unknown", lambda w, b: _token(w, b, header=_header(w.authority.signing_key, kid="00" * 8)),
     "TOKEN_INVALID"),
    ("kid-malformed", lambda w, b: _token(w, b, header=_header(w.authority.signing_key, kid="../../etc")),
     "TOKEN_INVALID"),
    ("expired", lambda w, b: _token(w, b, now=int(time.time()) - 200, lifetime=100), "TOKEN_EXPIRED"),
    ("issued-in-the-future", lambda w, b: _token(w, b, now=int(time.time()) + 600), "TOKEN_INVALID"),
    ("lifetime-over-300-s", lambda w, b: _token(w, b, lifetime=301), "TOKEN_LIFETIME_TOO_LONG"),
    *[(f"missing-{claim}", (lambda c: lambda w, b: _token(w, b, drop=(c,)))(claim), "TOKEN_INVALID")
      for claim in ("iss", "aud", "iat", "exp", "jti", "body_sha256")],
    ("body-hash-of-another-body", lambda w, b: _token(w, body_of("{ whoami { role } }")), "TOKEN_BODY_MISMATCH"),
    ("other-audience", lambda w, b: mint(w.authority.signing_key, iss="bka-de", aud="another-gateway", body=b),
     "TOKEN_AUDIENCE_MISMATCH"),
    ("audience-array", lambda w, b: _token(w, b, extra={"aud": [w.gateway.settings.id]}), "TOKEN_INVALID"),
    ("unknown-issuer", lambda w, b: mint(SigningKey.generate(), iss="nobody", aud=w.gateway.settings.id, body=b),
     "UNKNOWN_PRINCIPAL"),
    ("truncated", lambda w, b: _token(w, b)[:-10], "TOKEN_INVALID"),
    ("garbage", lambda w, b: "garbage", "TOKEN_INVALID"),
    ("non-ascii-garbage", lambda w, b: "ey\u00e9.\u00fc.\u00df", "TOKEN_INVALID"),
    ("jti-of-129-characters", lambda w, b: _token(w, b, jti="j" * 129), "TOKEN_INVALID"),
    ("one-megabyte", lambda w, b: "A" * (1024 * 1024), "TOKEN_INVALID"),
]


@pytest.mark.parametrize(("factory", "code"), [pytest.param(f, c, id=i) for i, f, c in TOKENS])
def test_hostile_tokens_are_refused_and_audited_once(world: World, factory: TokenFactory, code: str) -> None:
    body = body_of(WHOAMI)
    token = factory(world, body)
    # As bytes: a header value is octets (latin-1 to the app), whatever the client puts in it.
    authorization = f"Bearer {token}".encode("latin-1")
    response = audited_once(world.gateway, lambda: world.gateway.post(
        None, body=body, headers={"authorization": authorization}), 401, code)  # type: ignore[dict-item]
    logged = entry(world.gateway, response.json()["extensions"]["audit"]["index"])
    assert logged["principal_verified"] is False and logged["code"] == code
    assert token[:64] not in json.dumps(logged), "the log holds no token"


def test_a_jti_of_128_characters_is_the_longest_accepted(world: World) -> None:
    audited_once(world.gateway, lambda: world.gateway.post(world.authority, WHOAMI, jti="j" * 128), 200, None)


def test_a_replayed_jti_is_refused_and_both_requests_are_audited(world: World) -> None:
    body = body_of(WHOAMI)
    token = _token(world, body)
    audited_once(world.gateway, lambda: world.gateway.post(None, body=body, token=token), 200, None)
    audited_once(world.gateway, lambda: world.gateway.post(None, body=body, token=token), 401, "TOKEN_REPLAYED")
    # The same jti over another body is the same replay, not a fresh token.
    other = body_of("{ whoami { role } }")
    replay = _token(world, other, jti=json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"])
    audited_once(world.gateway, lambda: world.gateway.post(None, body=other, token=replay), 401, "TOKEN_REPLAYED")


def test_a_suspended_issuer_is_unknown(world: World) -> None:
    PrincipalRegistry(world.gateway.services.db).set_status("bka-de", "suspended")
    audited_once(world.gateway, lambda: world.gateway.post(world.authority, WHOAMI), 401, "UNKNOWN_PRINCIPAL")


@pytest.mark.parametrize("authorization", ["", "Bearer", "Basic Ym9iOnNlY3JldA==", "bearer\t", "Token abc"])
def test_missing_or_other_schemes_are_unauthenticated(world: World, authorization: str) -> None:
    headers = {"authorization": authorization} if authorization else {}
    audited_once(world.gateway, lambda: world.gateway.post(None, WHOAMI, headers=headers), 401, "UNAUTHENTICATED")


# ---------------------------------------------------------------------------------------------
# GraphQL documents and bodies


def _nested(levels: int) -> str:
    return "{ " + "whoami { " * levels + "id" + " }" * levels + " }"


def _introspection(levels: int) -> str:
    return "{ __schema { types { fields { type { " + "ofType { " * levels + "name" + " }" * levels + " } } } } }"


def _inline(levels: int) -> str:
    return "{ whoami { " + "... on Principal { " * levels + "id" + " }" * levels + " } }"


def _fragment_chain(links: int) -> str:
    chain = " ".join(f"fragment F{i} on Principal {{ ...F{i + 1} }}" for i in range(links))
    return f"{{ whoami {{ ...F0 }} }} {chain} fragment F{links} on Principal {{ id }}"


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: whoami {{ id }}" for i in range(count)) + " }"


def _fragment_aliases() -> str:
    inner = " ".join(f"f{i}: id" for i in range(10))
    return f"{{ x: whoami {{ ...A }} y: whoami {{ ...A }} }} fragment A on Principal {{ {inner} }}"


DOCUMENTS: list[tuple[str, str, int, str | None]] = [
    ("introspection-45-levels-deep", _introspection(40), 400, "QUERY_TOO_COMPLEX"),
    ("selection-sets-600-deep", _nested(600), 400, "QUERY_TOO_COMPLEX"),
    ("inline-fragments-300-deep", _inline(300), 400, "QUERY_TOO_COMPLEX"),
    ("inline-fragments-30-deep-add-no-depth", _inline(30), 200, None),
    ("fragment-chain-50-long", _fragment_chain(50), 200, None),
    ("3000-aliases", _aliases(3000), 400, "QUERY_TOO_COMPLEX"),
    ("100-aliases", _aliases(100), 400, "QUERY_TOO_COMPLEX"),
    ("aliases-multiplied-by-a-fragment", _fragment_aliases(), 400, "QUERY_TOO_COMPLEX"),
    ("20000-tokens-under-the-size-limit", "{ whoami { " + "id " * 20_000 + "} }", 400, "QUERY_TOO_COMPLEX"),
    ("fragment-cycle", "{ whoami { ...A } } fragment A on Principal { ...B } fragment B on Principal { ...A }",
     400, "GRAPHQL_VALIDATION_FAILED"),
    ("fragment-spreads-itself", "{ whoami { ...A } } fragment A on Principal { id ...A }", 400,
     "GRAPHQL_VALIDATION_FAILED"),
    ("multiple-operations-without-operationName", "query A { whoami { id } } query B { whoami { role } }", 400,
     "BAD_REQUEST"),
    ("subscription", "subscription { whoami { id } }", 400, "GRAPHQL_VALIDATION_FAILED"),
    ("unknown-operation-type", "foo { whoami { id } }", 400, "GRAPHQL_PARSE_FAILED"),
    ("empty-document", "   ", 400, "BAD_REQUEST"),
    ("only-a-fragment", "fragment A on Principal { id }", 400, "GRAPHQL_VALIDATION_FAILED"),
    ("introspection-with-a-token", "{ __schema { queryType { name } } }", 200, None),
]


@pytest.mark.parametrize(("query", "status", "code"), [pytest.param(q, s, c, id=i) for i, q, s, c in DOCUMENTS])
def test_hostile_documents(world: World, query: str, status: int, code: str | None) -> None:
    audited_once(world.gateway, lambda: world.gateway.post(world.authority, query), status, code)


def _padded(world: World, size: int) -> bytes:
    """A valid whoami request padded, with an undeclared variable, to exactly ``size`` bytes."""
    skeleton = body_of(WHOAMI, variables={"pad": ""})
    return body_of(WHOAMI, variables={"pad": "x" * (size - len(skeleton))})


BODIES: list[tuple[str, Callable[[World], bytes], int, str | None]] = [
    ("batched-array", lambda w: json.dumps([{"query": WHOAMI}, {"query": WHOAMI}]).encode(), 400, "BAD_REQUEST"),
    ("empty-batch", lambda w: b"[]", 400, "BAD_REQUEST"),
    ("invalid-utf8", lambda w: b'{"query": "{ whoami { id } }\xff"}', 400, "BAD_REQUEST"),
    ("utf16", lambda w: json.dumps({"query": WHOAMI}).encode("utf-16"), 400, "BAD_REQUEST"),
    ("json-nested-30000-deep", lambda w: b'{"query": "{ whoami { id } }", "variables": {"a": '
     + b"[" * 30_000 + b"]" * 30_000 + b"}}", 400, "BAD_REQUEST"),
    ("duplicate-query-keys", lambda w: b'{"query": "{ whoami { id } }", "query": 5}', 400, "BAD_REQUEST"),
    ("operationName-that-names-nothing", lambda w: body_of("query A { whoami { id } }", operationName="B"), 400,
     "BAD_REQUEST"),
    ("operationName-not-a-string", lambda w: body_of(WHOAMI, operationName=["A"]), 400, "BAD_REQUEST"),
    ("operationName-picks-one-of-two", lambda w: body_of("query A { whoami { id } } query B { x: whoami { role } }",
                                                         operationName="B"), 200, None),
    ("valid-body-exactly-at-the-limit", lambda w: _padded(w, w.gateway.settings.max_body_bytes), 200, None),
    ("huge-string-literal", lambda w: body_of('{ whoami { id } requests(status: "' + "s" * 60_000 + '") { id } }'),
     400, "GRAPHQL_VALIDATION_FAILED"),
]


@pytest.mark.parametrize(("make", "status", "code"), [pytest.param(m, s, c, id=i) for i, m, s, c in BODIES])
def test_hostile_bodies(world: World, make: Callable[[World], bytes], status: int, code: str | None) -> None:
    body = make(world)
    audited_once(world.gateway, lambda: world.gateway.post(world.authority, body=body), status, code)


def test_a_body_past_the_limit_is_413_before_its_token_is_read(world: World) -> None:
    body = _padded(world, world.gateway.settings.max_body_bytes + 1)
    audited_once(world.gateway, lambda: world.gateway.post(world.authority, body=body), 413, "PAYLOAD_TOO_LARGE")
    hundred_k_tokens = body_of("{ whoami { " + "id " * 100_000 + "} }")
    audited_once(world.gateway, lambda: world.gateway.post(world.authority, body=hundred_k_tokens), 413,
                 "PAYLOAD_TOO_LARGE")


def test_a_chunked_body_past_the_limit_is_413(world: World) -> None:
    # No Content-Length: the limit holds while the body streams in.
    chunks = [b"x" * 40_000, b"x" * 40_000]
    audited_once(world.gateway, lambda: world.gateway.client.post(
        "/graphql", content=iter(chunks), headers={"content-type": "application/json"}), 413, "PAYLOAD_TOO_LARGE")


def test_a_token_over_a_prefix_of_the_body_is_a_mismatch(world: World) -> None:
    body = body_of(WHOAMI)
    token = _token(world, body[:10])
    audited_once(world.gateway, lambda: world.gateway.post(None, body=body, token=token), 401,
                 "TOKEN_BODY_MISMATCH")


@pytest.mark.parametrize("content_type", ["text/plain", "application/graphql", "application/x-www-form-urlencoded",
                                          "application/json-patch+json", "application/jsonx", "json"])
def test_wrong_content_types_are_415(world: World, content_type: str) -> None:
    audited_once(world.gateway, lambda: world.gateway.post(world.authority, WHOAMI,
                                                           headers={"content-type": content_type}),
                 415, "UNSUPPORTED_MEDIA_TYPE")


def test_a_content_type_with_parameters_is_json(world: World) -> None:
    audited_once(world.gateway, lambda: world.gateway.post(
        world.authority, WHOAMI, headers={"content-type": "Application/JSON; charset=utf-8"}), 200, None)


def test_introspection_needs_a_token_and_is_allowed_with_one(world: World) -> None:
    introspection = "{ __schema { types { name } } }"
    audited_once(world.gateway, lambda: world.gateway.post(None, introspection), 401, "UNAUTHENTICATED")
    for actor in (world.authority, world.reviewers[0], world.auditor):
        response = audited_once(world.gateway, lambda a=actor: world.gateway.post(a, introspection), 200, None)
        assert {"name": "Subject"} in response.json()["data"]["__schema"]["types"]


def test_an_operation_named_by_operationName_runs_alone(world: World) -> None:
    document = "query A { whoami { id } } query B { subject(by: {id: \"x\"}) { devices { ciphertext } } }"
    response = audited_once(world.gateway, lambda: world.gateway.post(
        world.authority, body=body_of(document, operationName="A")), 200, None)
    assert response.json()["data"] == {"whoami": {"id": "bka-de"}}


# ---------------------------------------------------------------------------------------------
# Values a client sends never come back: not in a message, whatever position they are put in


def _phone_digits(world: World) -> str:
    return normalise_phone(world.subjects[0]["phone"])[1:]


ECHOES: list[tuple[str, Callable[[str, str], tuple[str, dict[str, Any] | None]], int, str]] = [
    ("field-name", lambda p, d: (f"{{ whoami {{ _{d} }} }}", None), 400, "GRAPHQL_VALIDATION_FAILED"),
    ("argument-name", lambda p, d: (f"{{ whoami(_{d}: 1) {{ id }} }}", None), 400, "GRAPHQL_VALIDATION_FAILED"),
    ("variable-name", lambda p, d: (f"query($_{d}: String) {{ whoami {{ id }} }}", None), 400,
     "GRAPHQL_VALIDATION_FAILED"),
    ("fragment-name", lambda p, d: (f"{{ whoami {{ ...F_{d} }} }}", None), 400, "GRAPHQL_VALIDATION_FAILED"),
    ("type-condition", lambda p, d: (f"{{ whoami {{ ... on T_{d} {{ id }} }} }}", None), 400,
     "GRAPHQL_VALIDATION_FAILED"),
    ("enum-value", lambda p, d: (f'{{ requests(status: "{p}") {{ id }} }}', None), 400,
     "GRAPHQL_VALIDATION_FAILED"),
    ("int-argument", lambda p, d: (f'{{ auditProof(index: "{p}") {{ index }} }}', None), 400,
     "GRAPHQL_VALIDATION_FAILED"),
    ("unparsable-string", lambda p, d: (f'{{ whoami {{ id }} "{p}', None), 400, "GRAPHQL_PARSE_FAILED"),
    ("bad-token-after-it", lambda p, d: (f'{{ subject(by: {{phoneNumber: "{p}"}}) {{ id }} }} }} ~', None), 400,
     "GRAPHQL_PARSE_FAILED"),
    ("variable-of-the-wrong-type", lambda p, d: ("query($i: Int!) { auditProof(index: $i) { index } }", {"i": p}),
     400, "BAD_REQUEST"),
    ("selector-variable-of-the-wrong-type", lambda p, d: (
        "query($s: SubjectSelector!) { subject(by: $s) { id } }", {"s": {"phoneNumber": [p]}}), 400, "BAD_REQUEST"),
    ("selector-variable-with-an-unknown-key", lambda p, d: (
        "query($s: SubjectSelector!) { subject(by: $s) { id } }", {"s": {f"p{d}": p}}), 400, "BAD_REQUEST"),
    ("two-selector-kinds", lambda p, d: (f'{{ subject(by: {{phoneNumber: "{p}", username: "u{d}"}}) {{ id }} }}',
                                         None), 400, "BAD_REQUEST"),
    ("alias-of-a-refused-field", lambda p, d: (f'{{ _{d}: subject(by: {{phoneNumber: "{p}"}}) {{ devices '
                                               f"{SEALED} }} }}", None), 403, "FIELD_NOT_PERMITTED"),
    ("selector-as-a-huge-variable", lambda p, d: ("query($u: String!) { subject(by: {username: $u}) { id } }",
                                                  {"u": p * 4000}), 400, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("make", "status", "code"), [pytest.param(m, s, c, id=i) for i, m, s, c in ECHOES])
def test_no_message_echoes_a_selector_value(world: World, make: Callable[[str, str], tuple[str, Any]],
                                            status: int, code: str) -> None:
    order = world.active_order(fields=["phoneNumber"])
    phone = world.subjects[0]["phone"]
    digits = _phone_digits(world)
    query, variables = make(phone, digits)
    response = audited_once(world.gateway, lambda: world.gateway.post(
        world.authority, query, variables=variables, order=order["id"]), status, code)
    for sent in (phone, digits, digits[-7:], phone.replace(" ", "")):
        assert sent not in response.text
    assert not re.search(r"\d{7}", response.json()["errors"][0]["message"])


ID_ECHOES: list[tuple[str, str, str, str, int, str]] = [
    ("authority-requestById", "authority", "query($v: ID!) { requestById(id: $v) { id } }", "", 400, "BAD_REQUEST"),
    ("authority-ord-order", "authority", "{ order { id } }", "ord", 403, "ORDER_NOT_FOUND"),
    ("authority-ord-subjects", "authority", "{ order { subjects { phoneNumber { ciphertext } } } }", "ord", 403,
     "ORDER_NOT_FOUND"),
    ("reviewer-requestById", "reviewer", "query($v: ID!) { requestById(id: $v) { id } }", "", 400, "BAD_REQUEST"),
    ("reviewer-orderById", "reviewer", "query($v: ID!) { orderById(id: $v) { id } }", "", 403, "ORDER_NOT_FOUND"),
    ("reviewer-approveOrder", "reviewer", 'mutation($v: ID!) { approveOrder(orderId: $v, signature: "AAAA") { id } }',
     "", 403, "ORDER_NOT_FOUND"),
    ("reviewer-revokeOrder", "reviewer", 'mutation($v: ID!) { revokeOrder(orderId: $v, reason: "r") { id } }', "",
     403, "ORDER_NOT_FOUND"),
    ("reviewer-rejectRequest", "reviewer", 'mutation($v: ID!) { rejectRequest(requestId: $v, reason: "r") { id } }',
     "", 400, "BAD_REQUEST"),
    ("reviewer-draftOrder", "reviewer", 'mutation($v: ID!) { draftOrder(input: {requestId: $v, '
                                        'validUntil: "2027-01-31T00:00:00Z", maxQueries: 1}) { id } }', "", 400,
     "BAD_REQUEST"),
]


@pytest.mark.parametrize("value", ["phone", "username"])
@pytest.mark.parametrize(("actor", "query", "where", "status", "code"),
                         [pytest.param(*case[1:], id=case[0]) for case in ID_ECHOES])
def test_no_message_echoes_an_id_that_is_subject_data(world: World, value: str, actor: str, query: str,
                                                      where: str, status: int, code: str) -> None:
    sent = world.subjects[0][value]
    caller = world.authority if actor == "authority" else world.reviewers[0]
    variables = {"v": sent} if "$v" in query else None
    order = sent if where == "ord" else None
    if order is not None and not ORDER_ID_SHAPE.fullmatch(order):
        status, code = 401, "TOKEN_INVALID"  # an ord that cannot be an order id is refused with the token
    response = audited_once(world.gateway, lambda: world.gateway.post(caller, query, variables=variables,
                                                                      order=order), status, code)
    assert sent not in response.text


NUL_IDS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("authority", "query($v: ID!) { requestById(id: $v) { id } }", {"v": "req_\x00"}, 400, "BAD_REQUEST"),
    ("reviewer", "query($v: ID!) { orderById(id: $v) { id } }", {"v": "ord_\x00"}, 403, "ORDER_NOT_FOUND"),
    ("reviewer", 'mutation($v: ID!) { approveOrder(orderId: $v, signature: "AAAA") { id } }', {"v": "o\x00"}, 403,
     "ORDER_NOT_FOUND"),
    ("reviewer", 'mutation($v: ID!) { revokeOrder(orderId: $v, reason: "r") { id } }', {"v": "o\x00"}, 403,
     "ORDER_NOT_FOUND"),
    ("reviewer", 'mutation($v: ID!) { rejectRequest(requestId: $v, reason: "r") { id } }', {"v": "r\x00"}, 400,
     "BAD_REQUEST"),
    ("reviewer", 'mutation($v: ID!) { draftOrder(input: {requestId: $v, validUntil: "2027-01-31T00:00:00Z", '
                 "maxQueries: 1}) { id } }", {"v": "r\x00"}, 400, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("actor", "query", "variables", "status", "code"),
                         [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(NUL_IDS)])
def test_ids_with_a_nul_character_name_nothing_on_every_database(
        world: World, actor: str, query: str, variables: dict[str, Any], status: int, code: str) -> None:
    # PostgreSQL refuses NUL in text; reaching the database with one was a 500.
    caller = world.authority if actor == "authority" else world.reviewers[0]
    audited_once(world.gateway, lambda: world.gateway.post(caller, query, variables=variables), status, code)


@pytest.mark.parametrize("operation", ["revokeOrder(orderId: $v", "rejectRequest(requestId: $v"])
def test_a_reason_with_a_nul_character_is_refused_on_every_database(world: World, operation: str) -> None:
    request_id = world.submit()
    target = world.draft(request_id)["id"] if operation.startswith("revoke") else request_id
    query = f'mutation($v: ID!) {{ {operation}, reason: "quashed\\u0000") {{ id }} }}'
    audited_once(world.gateway, lambda: world.gateway.post(world.reviewers[0], query, variables={"v": target}),
                 400, "BAD_REQUEST")


# ---------------------------------------------------------------------------------------------
# Orders


SUBJECT_QUERY = "query($s: SubjectSelector!) { subject(by: $s) { id phoneNumber { ciphertext } } }"
ORDER_QUERY = "{ order { subjects { id phoneNumber { ciphertext } } } }"


def _disclose(world: World, order_id: str, **token: Any) -> Any:
    return world.gateway.post(world.authority, ORDER_QUERY, order=order_id, **token)


def test_a_pending_order_discloses_nothing(world: World) -> None:
    pending = world.draft(world.submit())
    audited_once(world.gateway, lambda: _disclose(world, pending["id"]), 403, "ORDER_NOT_ACTIVE")
    world.approve(pending, world.reviewers[0])
    audited_once(world.gateway, lambda: _disclose(world, pending["id"]), 403, "ORDER_NOT_ACTIVE")


def test_an_expired_order_discloses_nothing(world: World) -> None:
    from gateway.services import utc_now

    order = world.active_order()
    later = datetime.now(UTC) + timedelta(days=400)
    world.gateway.services.clock = lambda: later
    try:
        audited_once(world.gateway, lambda: _disclose(world, order["id"], now=int(later.timestamp())), 403,
                     "ORDER_EXPIRED")
    finally:
        world.gateway.services.clock = utc_now


def test_a_revoked_order_discloses_nothing(world: World) -> None:
    order = world.active_order()
    revoke = "mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"quashed on appeal\") { status } }"
    audited_once(world.gateway, lambda: world.gateway.post(world.reviewers[2], revoke, variables={"o": order["id"]}),
                 200, None)
    audited_once(world.gateway, lambda: _disclose(world, order["id"]), 403, "ORDER_REVOKED")


def test_an_exhausted_order_discloses_nothing(world: World) -> None:
    order = world.active_order(maxQueries=1)
    audited_once(world.gateway, lambda: _disclose(world, order["id"]), 200, None)
    audited_once(world.gateway, lambda: _disclose(world, order["id"]), 403, "ORDER_EXHAUSTED")
    # Reading the order's own metadata stays open: it discloses no subject data.
    meta = audited_once(world.gateway, lambda: world.gateway.post(world.authority, "{ order { status queriesUsed } }",
                                                                  order=order["id"]), 200, None)
    assert meta.json()["data"]["order"] == {"status": "EXHAUSTED", "queriesUsed": 1}


@pytest.mark.parametrize("query", [ORDER_QUERY, "{ order { id } }", SUBJECT_QUERY])
def test_another_authoritys_order_is_not_found(world: World, query: str) -> None:
    order = world.active_order()
    variables = {"s": {"id": world.subjects[2]["id"]}} if "$s" in query else None
    audited_once(world.gateway, lambda: world.gateway.post(world.other_authority, query, variables=variables,
                                                           order=order["id"]), 403, "ORDER_NOT_FOUND")


@pytest.mark.parametrize("order_id", ["ord_unknown", "x" * 64, "ord_00000000000000000000", "ORD_UNKNOWN"])
def test_unknown_order_ids_are_not_found(world: World, order_id: str) -> None:
    audited_once(world.gateway, lambda: _disclose(world, order_id), 403, "ORDER_NOT_FOUND")


@pytest.mark.parametrize("order_id", ["' OR 1=1 --", "\u0000", "ord_" + "9" * 200, "+393123287921", "ord x", ""])
def test_an_ord_that_cannot_be_an_order_id_is_refused_with_its_token(world: World, order_id: str) -> None:
    claims = {"ord": order_id}
    audited_once(world.gateway, lambda: world.gateway.post(world.authority, ORDER_QUERY, extra=claims), 401,
                 "TOKEN_INVALID")


@pytest.mark.parametrize("query", [
    "{ order { subjects { devices { ciphertext } } } }",
    'query($x: Boolean!) { subject(by: {id: "%s"}) { phoneNumber { ciphertext } ...F @include(if: $x) } } '
    "fragment F on Subject { devices { ciphertext } }",
    '{ subject(by: {id: "%s"}) { phoneNumber { ciphertext } '
    "... on Subject @skip(if: true) { devices { ciphertext } } } }",
    '{ subject(by: {id: "%s"}) { ...F } } fragment F on Subject { ...G } fragment G on Subject { ...H } '
    "fragment H on Subject { a: phoneNumber { ciphertext } b: usernameHistory { ciphertext } }",
])
def test_fields_outside_the_order_are_refused_even_where_they_would_be_skipped(world: World, query: str) -> None:
    order = world.active_order(fields=["phoneNumber"])
    text = query.replace("%s", world.subjects[2]["id"])
    response = audited_once(world.gateway, lambda: world.gateway.post(world.authority, text, variables={"x": False},
                                                                      order=order["id"]), 403, "FIELD_NOT_PERMITTED")
    assert entry(world.gateway, response.json()["extensions"]["audit"]["index"])["decision"] == "refused"
    used = world.gateway.post(world.authority, "{ order { queriesUsed } }", order=order["id"])
    assert used.json()["data"]["order"]["queriesUsed"] == 0


@pytest.mark.parametrize("kind", ["id", "username", "phoneNumber"])
def test_subjects_outside_the_order_are_refused(world: World, kind: str) -> None:
    order = world.active_order()
    outsider = world.subjects[3]
    value = {"id": outsider["id"], "username": outsider["username"], "phoneNumber": outsider["phone"]}[kind]
    response = audited_once(world.gateway, lambda: world.gateway.post(
        world.authority, SUBJECT_QUERY, variables={"s": {kind: value}}, order=order["id"]), 403,
        "SUBJECT_NOT_PERMITTED")
    logged = entry(world.gateway, response.json()["extensions"]["audit"]["index"])
    assert logged["subjects"] == [] and outsider["id"] not in json.dumps(logged)


# ---------------------------------------------------------------------------------------------
# The selector oracle: a subject outside the order is answered exactly like nobody


def _without_receipt(response: Any) -> tuple[int, bytes]:
    """The status and the exact body bytes with the receipt's values blanked (they differ per request)."""
    receipt = response.json()["extensions"]["audit"]
    body = response.content
    for value in (receipt["request_id"], receipt["leaf_hash"]):
        body = body.replace(json.dumps(value).encode(), b'"-"')
    return response.status_code, body.replace(f'"index":{receipt["index"]}'.encode(), b'"index":0')


def _answers(world: World, query: str, kind: str, values: list[str], order_id: str | None) -> set[tuple[int, bytes]]:
    answers = set()
    for value in values:
        response = audited_once(world.gateway, lambda v=value: world.gateway.post(
            world.authority, query, variables={"s": {kind: v}}, order=order_id), 403, None)
        answers.add(_without_receipt(response))
    return answers


def _oracle_values(world: World, kind: str) -> list[str]:
    outsider = world.subjects[4]  # imported, in no order of these tests
    if kind == "phoneNumber":
        e164 = normalise_phone(outsider["phone"])
        return [outsider["phone"], e164, "+4930901820", "+4915112345678", "12", e164 + "0"]
    former = next((r["username"] for s in world.subjects for r in s["username_history"]
                   if r["username"] != s["username"]), "lunar_falcon19193")
    return [outsider["username"], outsider["username"].upper(), former, "nobody_at_all", "x" * 64, "not valid!"]


@pytest.mark.parametrize("kind", ["phoneNumber", "username"])
@pytest.mark.parametrize("state", ["active", "pending", "no-order"])
def test_a_selector_is_no_oracle_for_who_is_a_user(world: World, kind: str, state: str) -> None:
    order_id = {"active": lambda: world.active_order()["id"], "pending": lambda: world.draft(world.submit())["id"],
                "no-order": lambda: None}[state]()
    code = {"active": "SUBJECT_NOT_PERMITTED", "pending": "ORDER_NOT_ACTIVE", "no-order": "ORDER_NOT_FOUND"}[state]
    for query in (SUBJECT_QUERY, "query($s: SubjectSelector!) { subject(by: $s) { id } }"):
        # A user outside the order, in several spellings, a non-user and no valid value at all: one answer.
        answers = _answers(world, query, kind, _oracle_values(world, kind), order_id)
        assert len(answers) == 1, answers
        ((_, body),) = answers
        assert json.loads(body)["errors"][0]["extensions"]["code"] == code


# ---------------------------------------------------------------------------------------------
# Issue 11, finding 7: what the outside attack found at the edge


def test_an_ord_naming_no_order_is_not_copied_into_the_audit_entry(world: World) -> None:
    digits = _phone_digits(world)  # a phone number's digits have the shape of an id
    assert ORDER_ID_SHAPE.fullmatch(digits)
    response = audited_once(world.gateway, lambda: _disclose(world, digits), 403, "ORDER_NOT_FOUND")
    logged = entry(world.gateway, response.json()["extensions"]["audit"]["index"])
    assert logged["order_id"] is None
    assert digits not in json.dumps(logged)
    order = world.active_order()
    served = _disclose(world, order["id"])
    assert entry(world.gateway, served.json()["extensions"]["audit"]["index"])["order_id"] == order["id"]


def test_no_such_order_and_another_authoritys_order_are_one_answer(world: World) -> None:
    theirs = world.active_order()["id"]
    unknown = "ord_" + "0" * 20

    def answer(order_id: str) -> tuple[int, Any]:
        response = world.gateway.post(world.other_authority, ORDER_QUERY, order=order_id)
        return response.status_code, response.json()["errors"]

    assert answer(theirs) == answer(unknown) == (403, [{"message": "no such order",
                                                         "extensions": {"code": "ORDER_NOT_FOUND"}}])


def test_two_authorization_headers_are_refused(world: World) -> None:
    body = body_of(WHOAMI)
    good = mint(world.auditor.signing_key, iss=world.auditor.id, aud=world.gateway.settings.id, body=body)
    other = mint(world.reviewers[0].signing_key, iss=world.reviewers[0].id, aud=world.gateway.settings.id, body=body)
    for second in (f"Bearer {other}", "Bearer garbage", f"Bearer {good}"):
        before = world.gateway.audit_size()
        response = world.gateway.client.post("/graphql", content=body, headers=[
            ("content-type", "application/json"), ("authorization", f"Bearer {good}"), ("authorization", second)])
        assert response.status_code == 401, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"
        assert "exactly one Authorization header" in response.json()["errors"][0]["message"]
        assert world.gateway.audit_size() == before + 1
    # The same token alone is still good: the refusals did not consume it.
    alone = world.gateway.client.post("/graphql", content=body, headers={
        "content-type": "application/json", "authorization": f"Bearer {good}"})
    assert alone.status_code == 200, alone.text


@pytest.mark.parametrize(("query", "variables"), [
    ("{ subject(by: {username: %s}) { id } }", None),
    ("{ subject(by: {id: %s}) { id } }", None),
    ("{ subject(by: {username: [%s]}) { id } }", None),
    ("{ subject(by: {usernamez: %s}) { id } }", None),
    ("{ requests(status: %s) { id } }", None),
    ("{ auditProof(index: %s) { index } }", None),
    ("query($n: Int!) { auditProof(index: $n) { index } }", {"n": "%s"}),
])
def test_no_message_echoes_a_bare_literal(world: World, query: str, variables: dict[str, Any] | None) -> None:
    # A username's letters, without the digits that redaction already masked: "SolarNomad".
    found = re.match(r"[A-Za-z]{3,}", world.subjects[0]["username"])
    assert found is not None
    prefix = found.group(0)
    text = query.replace("%s", prefix)
    filled = {k: v.replace("%s", prefix) for k, v in variables.items()} if variables else None
    response = world.gateway.post(world.authority, text, variables=filled)
    assert response.status_code == 400, response.text
    assert prefix not in response.json()["errors"][0]["message"], response.text


@pytest.mark.parametrize("where", ["submitRequest", "draftOrder"])
def test_no_message_echoes_unknown_field_names(world: World, where: str) -> None:
    name = world.subjects[0]["username"]
    if where == "submitRequest":
        request = {"caseReference": "AZ 1", "court": "AG", "jurisdiction": "DE", "legalBasis": "§ 100g StPO",
                   "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32, "subjects": [{"id": "sub_x"}],
                   "fields": ["phoneNumber", name], "dataWindow": {"from": "2026-01-01T00:00:00Z",
                                                                 "until": "2026-02-01T00:00:00Z"},
                   "justification": "j"}
        response = world.gateway.post(world.authority, "mutation($i: LegalRequestInput!) { submitRequest(input: $i) "
                                      "{ id } }", variables={"i": request})
    else:
        draft = {"requestId": world.submit(), "validUntil": "2027-01-31T00:00:00Z", "maxQueries": 1,
                 "fields": [name]}
        response = world.gateway.post(world.reviewers[0], "mutation($i: DraftOrderInput!) { draftOrder(input: $i) "
                                      "{ id } }", variables={"i": draft})
    assert response.status_code == 400, response.text
    assert "unknown field name" in response.text
    assert name not in response.text
