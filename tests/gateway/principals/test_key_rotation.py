"""An authority's own keys (docs/PROTOCOL.md §17.5), written from the contract: a signing key
rotated by the authority, the old key's overlap, a bad proof, a key row written straight into the
database, a revoked kid, and a sealing key rotated so that every later disclosure seals to it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import text

from crypto.keys import encode_public_key, key_id
from crypto.rotation import SEALING_ROTATION_DOMAIN, SIGNING_ROTATION_DOMAIN, sealing_rotation, signing_rotation
from crypto.sealing import SealedValue, open_record
from crypto.signing import ORDER_DOMAIN, sign_document
from gateway.store.tables import PrincipalKey
from gateway.values.times import format_time
from tests.support.clock import Clock, gateway_clock, post_at
from tests.support.harness import Actor
from tests.support.jwt import mint
from tests.support.lifecycle import audit_entries
from tests.support.world import World

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WHOAMI = "{ whoami { id keyId keyValidUntil sealingKeyId } }"
ROTATE = ("mutation($k: String!, $t: String!, $p: String!, $q: String!) "
          "{ rotateSigningKey(newKey: $k, signedAt: $t, proof: $p, possession: $q) { oldKid newKid oldKeyUntil } }")
ROTATE_SEALING = ("mutation($k: String!, $t: String!, $o: String, $p: String!) "
                  "{ rotateSealingKey(newKey: $k, signedAt: $t, oldSealingKid: $o, proof: $p) "
                  "{ oldSealingKid newSealingKid } }")


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


def code(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def rotation_variables(world: World, clock: Clock, actor: Actor, new: SigningKey, *,
                       proof_key: SigningKey | None = None, possession_key: SigningKey | None = None,
                       domain: bytes = SIGNING_ROTATION_DOMAIN, **statement: Any) -> dict[str, Any]:
    fields = {"gateway": world.gateway.settings.id, "principal": actor.id,
              "old_kid": key_id(actor.signing_key.verify_key), "new_key": encode_public_key(new.verify_key),
              "time": format_time(clock.now)} | statement
    signed = signing_rotation(**fields)
    return {"k": signed["new_key"], "t": format_time(clock.now),
            "p": sign_document(domain, signed, proof_key or actor.signing_key),
            "q": sign_document(SIGNING_ROTATION_DOMAIN, signed, possession_key or new)}


def rotate(world: World, clock: Clock, actor: Actor) -> tuple[Actor, dict[str, Any]]:
    """Rotate ``actor``'s signing key; the actor with the new key and the answer."""
    new = SigningKey.generate()
    response = post_at(world, clock, actor, ROTATE, rotation_variables(world, clock, actor, new))
    assert response.status_code == 200, response.text
    return replace(actor, signing_key=new), response.json()["data"]["rotateSigningKey"]


def whoami(world: World, clock: Clock, actor: Actor) -> Any:
    return post_at(world, clock, actor, WHOAMI)


def test_a_rotated_key_is_accepted_and_the_old_one_refused_after_the_overlap(world: World, clock: Clock) -> None:
    old = world.authority
    new, answer = rotate(world, clock, old)
    until = START + timedelta(hours=world.gateway.settings.key_overlap_hours)
    assert answer == {"oldKid": key_id(old.signing_key.verify_key), "newKid": key_id(new.signing_key.verify_key),
                      "oldKeyUntil": format_time(until)}
    assert whoami(world, clock, new).json()["data"]["whoami"]["keyValidUntil"] is None
    clock.now = until - timedelta(seconds=1)
    still = whoami(world, clock, old)
    assert still.status_code == 200 and still.json()["data"]["whoami"]["keyValidUntil"] == format_time(until)
    clock.now = until
    refused = whoami(world, clock, old)
    assert (refused.status_code, code(refused)) == (401, "KEY_SUPERSEDED")
    assert whoami(world, clock, new).status_code == 200
    # The entry records the rotation by kids only: no public key, no statement.
    logged = [f for e in audit_entries(world.gateway.services) for f in e.get("facts", [])
              if f["kind"] == "signing_key_rotated"]
    assert logged == [{"kind": "signing_key_rotated", "principal": old.id, "old_kid": answer["oldKid"],
                       "new_kid": answer["newKid"], "old_key_until": format_time(until)}]


def test_the_overlap_is_the_operator_setting(world: World, clock: Clock) -> None:
    world.gateway.services.rotations.overlap_s = 0
    old = world.authority
    new, answer = rotate(world, clock, old)
    assert answer["oldKeyUntil"] == format_time(START)
    assert code(whoami(world, clock, old)) == "KEY_SUPERSEDED"
    assert whoami(world, clock, new).status_code == 200


def test_a_replaced_key_cannot_rotate_again_or_change_the_sealing_key(world: World, clock: Clock) -> None:
    old = world.authority
    rotate(world, clock, old)
    again = post_at(world, clock, old, ROTATE, rotation_variables(world, clock, old, SigningKey.generate()))
    assert (again.status_code, code(again)) == (400, "BAD_REQUEST")
    assert "replaced already" in again.json()["errors"][0]["message"]


@pytest.mark.parametrize("bad", ["proof by the new key", "possession by another key", "proof in another domain",
                                 "statement for another principal", "statement for another gateway",
                                 "statement of another time", "time out of the window"])
def test_a_rotation_with_a_bad_proof_is_refused(world: World, clock: Clock, bad: str) -> None:
    actor = world.authority
    new = SigningKey.generate()
    variables = {
        "proof by the new key": lambda: rotation_variables(world, clock, actor, new, proof_key=new),
        "possession by another key": lambda: rotation_variables(world, clock, actor, new,
                                                                possession_key=SigningKey.generate()),
        "proof in another domain": lambda: rotation_variables(world, clock, actor, new, domain=ORDER_DOMAIN),
        "statement for another principal": lambda: rotation_variables(world, clock, actor, new,
                                                                      principal="police-fr"),
        "statement for another gateway": lambda: rotation_variables(world, clock, actor, new, gateway="elsewhere"),
        "statement of another time": lambda: rotation_variables(world, clock, actor, new,
                                                                time=format_time(START + timedelta(seconds=1))),
        "time out of the window": lambda: rotation_variables(world, clock, actor, new) | {
            "t": format_time(START - timedelta(hours=1))},
    }[bad]()
    response = post_at(world, clock, actor, ROTATE, variables)
    assert (response.status_code, code(response)) == (400, "BAD_REQUEST"), response.text
    # Nothing changed: the new key signs nothing, the old one has no end.
    assert code(whoami(world, clock, replace(actor, signing_key=new))) == "TOKEN_INVALID"
    assert whoami(world, clock, actor).json()["data"]["whoami"]["keyValidUntil"] is None


def test_a_reviewer_cannot_rotate_through_the_api(world: World, clock: Clock) -> None:
    reviewer = world.reviewers[0]
    response = post_at(world, clock, reviewer, ROTATE, rotation_variables(world, clock, reviewer,
                                                                          SigningKey.generate()))
    assert (response.status_code, code(response)) == (403, "FORBIDDEN_ROLE")


def test_a_rotation_in_a_refused_request_is_undone(world: World, clock: Clock) -> None:
    actor = world.authority
    new = SigningKey.generate()
    both = ("mutation($k: String!, $t: String!, $p: String!, $q: String!) "
            "{ a: rotateSigningKey(newKey: $k, signedAt: $t, proof: $p, possession: $q) { newKid } "
            "b: attachCourtOrder(requestId: \"lrq_00\", courtOrderSha256: \"00\") { id } }")
    response = post_at(world, clock, actor, both, rotation_variables(world, clock, actor, new))
    assert response.status_code != 200
    assert code(whoami(world, clock, replace(actor, signing_key=new))) == "TOKEN_INVALID"
    assert whoami(world, clock, actor).json()["data"]["whoami"]["keyValidUntil"] is None


def _insert_key(world: World, principal: str, key: SigningKey, audit_request_id: str | None) -> None:
    with world.gateway.services.db.session() as session:
        session.add(PrincipalKey(principal_id=principal, kid=key_id(key.verify_key),
                                 public_key=encode_public_key(key.verify_key), status="active",
                                 created_at=clock_unix(), audit_request_id=audit_request_id))
        session.execute(text("UPDATE state_versions SET version = version + 1"))


def clock_unix() -> int:
    return int(START.timestamp())


def test_a_key_row_inserted_into_the_database_authenticates_nothing(world: World, clock: Clock) -> None:
    actor = world.authority
    _, answer = rotate(world, clock, world.other_authority)
    assert whoami(world, clock, actor).status_code == 200
    entries = audit_entries(world.gateway.services)
    rotation_entry = next(e["request_id"] for e in entries
                          if any(f["kind"] == "signing_key_rotated" for f in e.get("facts", [])))
    # No entry at all; a served entry of this principal that recorded something else; and the entry
    # of another principal's real rotation.
    own_entry = next(e["request_id"] for e in entries if e["principal"] == actor.id and e["decision"] == "served")
    for entry in ("req_000000000000000000000000", own_entry, rotation_entry):
        key = SigningKey.generate()
        _insert_key(world, actor.id, key, entry)
        response = whoami(world, clock, replace(actor, signing_key=key))
        assert (response.status_code, code(response)) == (401, "TOKEN_INVALID"), entry
    # A proven kid whose public key was edited in the database verifies nothing either.
    thief = SigningKey.generate()
    with world.gateway.services.db.engine.begin() as connection:
        connection.execute(text("UPDATE principal_keys SET public_key = :k WHERE kid = :kid"),
                           {"k": encode_public_key(thief.verify_key), "kid": answer["newKid"]})
        connection.execute(text("UPDATE state_versions SET version = version + 1"))
    forged = replace(world.other_authority, signing_key=thief)
    assert code(whoami(world, clock, forged)) == "TOKEN_INVALID"


def test_a_revoked_kid_is_refused_from_the_next_request_on(world: World, clock: Clock) -> None:
    actor = world.authority
    assert whoami(world, clock, actor).status_code == 200  # cached now
    kid = key_id(actor.signing_key.verify_key)
    assert world.gateway.services.registry.revoke_key(actor.id, kid, now=clock.unix) == ("signing", True)
    refused = whoami(world, clock, actor)
    assert (refused.status_code, code(refused)) == (401, "KEY_REVOKED")
    # Who lacks the key learns nothing of its state: a bad signature is TOKEN_INVALID.
    stranger = replace(actor, signing_key=SigningKey.generate())
    body = b'{"query":"{ whoami { id } }"}'
    token = mint(stranger.signing_key, iss=actor.id, aud=world.gateway.settings.id, body=body, now=clock.unix,
                 header={"alg": "EdDSA", "typ": "JWT", "kid": kid})
    assert code(world.gateway.post(None, body=body, token=token)) == "TOKEN_INVALID"
    assert world.gateway.services.registry.revoke_key(actor.id, kid, now=clock.unix) == ("signing", False)


def active_order(world: World, clock: Clock) -> dict[str, Any]:
    """An order drafted and approved before the key change; the world's helpers sign their tokens
    at the real time, so the gateway's clock is set to it first."""
    clock.now = datetime.now(UTC).replace(microsecond=0)
    return world.active_order()


def _disclosed(world: World, clock: Clock, actor: Actor, order: str) -> list[dict[str, str]]:
    response = post_at(world, clock, actor, "{ order { subjects { phoneNumber { recipientKeyId ciphertext } } } }",
                       order=order)
    assert response.status_code == 200, response.text
    return [s["phoneNumber"] for s in response.json()["data"]["order"]["subjects"]]


def _gateway_key(world: World) -> VerifyKey:
    discovery = world.gateway.client.get("/.well-known/disclosure-gateway").json()
    return VerifyKey(base64.b64decode(discovery["gateway_signing_key"]))


def sealing_variables(world: World, clock: Clock, actor: Actor, new: PrivateKey, old: str | None) -> dict[str, Any]:
    statement = sealing_rotation(gateway=world.gateway.settings.id, principal=actor.id,
                                 signing_kid=key_id(actor.signing_key.verify_key), old_sealing_kid=old,
                                 new_key=encode_public_key(new.public_key), time=format_time(clock.now))
    return {"k": statement["new_sealing_key"], "t": statement["time"], "o": old,
            "p": sign_document(SEALING_ROTATION_DOMAIN, statement, actor.signing_key)}


def test_a_new_sealing_key_seals_every_later_disclosure_of_earlier_orders(world: World, clock: Clock) -> None:
    actor = world.authority
    assert actor.sealing_key is not None
    order = active_order(world, clock)
    old_kid = key_id(actor.sealing_key.public_key)
    assert {v["recipientKeyId"] for v in _disclosed(world, clock, actor, order["id"])} == {old_kid}
    new = PrivateKey.generate()
    response = post_at(world, clock, actor, ROTATE_SEALING, sealing_variables(world, clock, actor, new, old_kid))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["rotateSealingKey"] == {"oldSealingKid": old_kid,
                                                           "newSealingKid": key_id(new.public_key)}
    assert whoami(world, clock, actor).json()["data"]["whoami"]["sealingKeyId"] == key_id(new.public_key)
    sealed = _disclosed(world, clock, actor, order["id"])
    assert {v["recipientKeyId"] for v in sealed} == {key_id(new.public_key)}
    for value in sealed:
        open_record(SealedValue("x25519-xsalsa20poly1305-sealedbox", value["recipientKeyId"], value["ciphertext"]),
                    new, _gateway_key(world))
    # A statement naming the replaced key is refused: it is not the current one.
    stale = post_at(world, clock, actor, ROTATE_SEALING,
                    sealing_variables(world, clock, actor, PrivateKey.generate(), old_kid))
    assert (stale.status_code, code(stale)) == (400, "BAD_REQUEST")


def test_a_sealing_key_edited_in_the_database_is_not_sealed_to(world: World, clock: Clock) -> None:
    actor = world.authority
    assert actor.sealing_key is not None
    order = active_order(world, clock)
    new = PrivateKey.generate()
    assert post_at(world, clock, actor, ROTATE_SEALING, sealing_variables(
        world, clock, actor, new, key_id(actor.sealing_key.public_key))).status_code == 200
    thief = PrivateKey.generate()
    with world.gateway.services.db.engine.begin() as connection:
        connection.execute(text("UPDATE principals SET sealing_key = :k WHERE id = :id"),
                           {"k": encode_public_key(thief.public_key), "id": actor.id})
        connection.execute(text("UPDATE state_versions SET version = version + 1"))
    assert whoami(world, clock, actor).json()["data"]["whoami"]["sealingKeyId"] is None
    response = post_at(world, clock, actor, "{ order { subjects { phoneNumber { ciphertext } } } }", order=order["id"])
    assert (response.status_code, code(response)) == (403, "SUBJECT_NOT_PERMITTED")


def test_a_revoked_sealing_key_leaves_nothing_sealed(world: World, clock: Clock) -> None:
    actor = world.authority
    assert actor.sealing_key is not None
    order = active_order(world, clock)
    sealing_kid = key_id(actor.sealing_key.public_key)
    assert world.gateway.services.registry.revoke_key(actor.id, sealing_kid, now=clock.unix) == ("sealing", True)
    response = post_at(world, clock, actor, "{ order { subjects { phoneNumber { ciphertext } } } }", order=order["id"])
    assert (response.status_code, code(response)) == (403, "SUBJECT_NOT_PERMITTED")
    new = PrivateKey.generate()
    assert post_at(world, clock, actor, ROTATE_SEALING,
                   sealing_variables(world, clock, actor, new, None)).status_code == 200
    assert {v["recipientKeyId"] for v in _disclosed(world, clock, actor, order["id"])} == {key_id(new.public_key)}
