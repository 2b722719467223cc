"""An authority's own key changes, without an operator (docs/PROTOCOL.md §17.5).

A rotation is a statement (:mod:`crypto.rotation`) signed by the key the request's token is signed
with; the gateway checks it, then writes the change as a conditional write on the state it read
(:mod:`gateway.store.conditional`), so of two identical rotations sent at once one is served and
the other refused as a late caller is. The new signing key row names the request's audit entry:
without that entry (gateway/audit/grants.py) the registry believes no such key, so a row written
straight into the database authenticates nothing. The old signing key keeps working for the
overlap, then is ``KEY_SUPERSEDED``; a new sealing key takes over at once, for every disclosure
answered from then on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nacl.signing import VerifyKey
from sqlalchemy.orm import Session

from crypto.errors import CryptoError
from crypto.keys import decode_sealing_public_key, decode_signing_public_key, key_id
from crypto.rotation import SEALING_ROTATION_DOMAIN, SIGNING_ROTATION_DOMAIN, sealing_rotation, signing_rotation
from crypto.signing import verify_document_signature
from gateway.errors import BadRequest
from gateway.principals.registry import ACTIVE, PrincipalInfo, refuse_key_in_use
from gateway.store.conditional import compare_and_set, decide
from gateway.store.engine import Database
from gateway.store.tables import Principal, PrincipalKey
from gateway.store.undo import Undo, undo_row_change
from gateway.store.versions import bump
from gateway.values.times import parse_time

__all__ = ["KeyRotations", "SealingRotation", "SigningRotation"]

_keys = PrincipalKey.__table__  # type: ignore[attr-defined]
_principals = Principal.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SigningRotation:
    """A served signing-key rotation: the key replaced, the key that took over, and the Unix time
    until which the replaced key still works."""

    old_kid: str
    new_kid: str
    old_key_until: int


@dataclass(frozen=True)
class SealingRotation:
    old_sealing_kid: str | None
    new_sealing_kid: str


class KeyRotations:
    """Checks and records the rotations of principals' own keys."""

    def __init__(self, db: Database, *, gateway_id: str, overlap_s: int, window_s: int) -> None:
        self.db = db
        self.gateway_id = gateway_id
        self.overlap_s = overlap_s
        self.window_s = window_s  # how far a statement's time may be from the gateway's clock

    def rotate_signing_key(self, principal: PrincipalInfo, *, token_kid: str, new_key: str, signed_at: str,
                           proof: str, possession: str, now: datetime, entry: str,
                           undo: list[Undo] | None = None) -> SigningRotation:
        """Add ``new_key`` to ``principal`` as its successor of ``token_kid``: ``proof`` is the
        token key's signature over the statement, ``possession`` the new key's. Raise
        :class:`BadRequest` for a malformed key or time, a signature that does not verify, a key in
        use, or a token key that was replaced already."""
        statement = self._statement(lambda: signing_rotation(
            gateway=self.gateway_id, principal=principal.id, old_kid=token_kid, new_key=new_key, time=signed_at),
            signed_at, now)
        new_kid = str(statement["new_kid"])
        self._verify(statement, possession, decode_signing_public_key(str(statement["new_key"])),
                     SIGNING_ROTATION_DOMAIN, "possession", "the new key")
        unix = int(now.timestamp())
        until = unix + self.overlap_s

        def attempt(session: Session) -> SigningRotation | None:
            old = session.get(PrincipalKey, (principal.id, token_kid))
            if old is None or old.status != ACTIVE:  # pragma: no cover - authentication let the token in
                raise BadRequest("the token's key is not an active key; sign with your current key")
            if old.not_after is not None:
                raise BadRequest(f"key {token_kid} was replaced already; rotate with the key that replaced it")
            self._verify(statement, proof, decode_signing_public_key(old.public_key), SIGNING_ROTATION_DOMAIN,
                         "proof", f"key {token_kid}")
            if new_kid == token_kid:
                raise BadRequest("the new key is the key signing this request; generate a new one")
            if not compare_and_set(session, _keys, {"principal_id": principal.id, "kid": token_kid},
                                   {"status": ACTIVE, "not_after": None}, {"not_after": until}):
                return None
            # After the conditional write, which a racing twin lost: it is then refused as a late
            # caller is ("replaced already"), not for the key its winner just registered. A key in
            # use refuses the change, and the transaction rolls the write back.
            refuse_key_in_use(session, str(statement["new_key"]))
            session.add(PrincipalKey(
                principal_id=principal.id, kid=new_kid, public_key=str(statement["new_key"]), status=ACTIVE,
                created_at=unix, audit_request_id=entry,
                proof=json.dumps({"statement": statement, "proof": proof, "possession": possession},
                                 sort_keys=True)))
            bump(session)  # every process re-reads this principal's keys
            return SigningRotation(token_kid, new_kid, until)

        rotation = decide(self.db, attempt)
        undo_row_change(self.db, undo, PrincipalKey, (principal.id, token_kid), {"not_after": None})
        undo_row_change(self.db, undo, PrincipalKey, (principal.id, new_kid), None)
        return rotation

    def rotate_sealing_key(self, principal: PrincipalInfo, *, token_kid: str, new_key: str, signed_at: str,
                           old_sealing_kid: str | None, proof: str, now: datetime, entry: str,
                           undo: list[Undo] | None = None) -> SealingRotation:
        """Make ``new_key`` ``principal``'s sealing key in place of ``old_sealing_kid`` (which must be
        the current one), ``proof`` being the token key's signature over the statement. Raise
        :class:`BadRequest` for a malformed key or time, a signature that does not verify, a
        statement naming a sealing key that is not the current one, or a replaced token key."""
        statement = self._statement(lambda: sealing_rotation(
            gateway=self.gateway_id, principal=principal.id, signing_kid=token_kid, old_sealing_kid=old_sealing_kid,
            new_key=new_key, time=signed_at), signed_at, now)
        new_kid = str(statement["new_sealing_kid"])

        def attempt(session: Session) -> tuple[SealingRotation, str | None, str | None] | None:
            key = session.get(PrincipalKey, (principal.id, token_kid))
            row = session.get(Principal, principal.id)
            if key is None or key.status != ACTIVE or row is None:  # pragma: no cover - authenticated
                raise BadRequest("the token's key is not an active key; sign with your current key")
            if key.not_after is not None:
                raise BadRequest(f"key {token_kid} was replaced; sign the sealing key's change with the key "
                                 "that replaced it")
            self._verify(statement, proof, decode_signing_public_key(key.public_key), SEALING_ROTATION_DOMAIN,
                         "proof", f"key {token_kid}")
            current = None if row.sealing_key is None else key_id(decode_sealing_public_key(row.sealing_key))
            if current != old_sealing_kid:
                raise BadRequest(f"the statement replaces sealing key {old_sealing_kid or 'none'}, but the current "
                                 f"one is {current or 'none'}; sign a statement that names it")
            if current == new_kid:
                raise BadRequest(f"{new_kid} is your sealing key already")
            seen = {"sealing_key": row.sealing_key, "sealing_audit_request_id": row.sealing_audit_request_id}
            if not compare_and_set(session, _principals, {"id": principal.id}, seen,
                                   {"sealing_key": str(statement["new_sealing_key"]),
                                    "sealing_audit_request_id": entry}):
                return None
            bump(session)
            return SealingRotation(current, new_kid), row.sealing_key, row.sealing_audit_request_id

        rotation, old_key, old_entry = decide(self.db, attempt)
        undo_row_change(self.db, undo, Principal, principal.id,
                        {"sealing_key": old_key, "sealing_audit_request_id": old_entry})
        return rotation

    def _statement(self, build: Callable[[], dict[str, Any]], signed_at: str, now: datetime) -> dict[str, Any]:
        try:
            at = parse_time(signed_at)
        except ValueError as exc:
            raise BadRequest("signedAt must be an RFC 3339 time such as 2026-12-07T17:00:00Z") from exc
        if abs((at - now).total_seconds()) > self.window_s:
            raise BadRequest(f"signedAt is more than {self.window_s} s from the gateway's clock; sign the "
                             "statement again now")
        try:
            statement = build()
        except CryptoError as exc:
            raise BadRequest(f"newKey: {exc.message}; pass the base64 public key of a key you generated") from exc
        return statement

    @staticmethod
    def _verify(statement: dict[str, Any], signature: str, key: VerifyKey, domain: bytes, what: str,
                signer: str) -> None:
        try:
            verify_document_signature(domain, statement, signature, key)
        except CryptoError as exc:
            raise BadRequest(f"{what} is not {signer}'s signature over the statement ({exc.message}); sign "
                             f"{domain.decode()!r} || 0x00 || the statement's JCS, as docs/PROTOCOL.md §17.5 "
                             "says") from exc
