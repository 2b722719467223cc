"""Who may ask: authorities, reviewers and auditors, and their token keys (docs/PROTOCOL.md §1).

Admins act on the gateway host through the CLI with direct database access; they are not
principals and hold no token keys.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import phonenumbers
from nacl.signing import VerifyKey
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from crypto.errors import CryptoError
from crypto.keys import decode_sealing_public_key, decode_signing_public_key, encode_public_key, key_id
from gateway.errors import AuthenticationError, BadRequest
from gateway.store.driver_statements import Prepared
from gateway.store.engine import Database
from gateway.store.tables import Principal, PrincipalKey
from gateway.store.versions import bump, current

__all__ = ["ACTIVE", "REVOKED", "SEALING_KEY_ROTATED", "SIGNING_KEY_ROTATED", "SUSPENDED", "PrincipalInfo",
           "PrincipalKeyInfo", "PrincipalRegistry", "Proves", "Role", "TokenKey", "refuse_key_in_use"]

ACTIVE = "active"
SUSPENDED = "suspended"
RETIRED = "retired"
REVOKED = "revoked"
# The fact kinds of the audit entries that prove a key a principal set itself (docs/PROTOCOL.md
# §17.5); gateway/audit/grants.py and gateway/transparency/facts.py take these names from here.
SIGNING_KEY_ROTATED = "signing_key_rotated"
SEALING_KEY_ROTATED = "sealing_key_rotated"

Proves = Callable[[Connection, str, str, str, tuple[tuple[str, Any], ...]], bool]
"""Whether the audit entry of request id ``entry`` is a served request of ``principal`` with a fact
of ``kind`` holding ``values`` (gateway/audit/grants.py, handed in by the composition root: the
audit log is a unit above this one)."""
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# ISO 3166-1 alpha-2 regions as phonenumbers knows them; "001" (non-geographic) is not a country.
_principals = Principal.__table__  # type: ignore[attr-defined]
_keys = PrincipalKey.__table__  # type: ignore[attr-defined]
_PRINCIPAL_COLUMNS = (_principals.c.id, _principals.c.role, _principals.c.name, _principals.c.country,
                      _principals.c.sealing_key, _principals.c.status, _principals.c.sealing_audit_request_id)
_TOKEN_CACHE = 4096
_PRINCIPAL = Prepared(select(*_PRINCIPAL_COLUMNS).where(_principals.c.id == bindparam("id")))
_KEY = Prepared(select(_keys.c.kid, _keys.c.public_key, _keys.c.status, _keys.c.not_after,
                       _keys.c.audit_request_id).where(
    _keys.c.principal_id == bindparam("id"), _keys.c.kid == bindparam("kid")))
_COUNTRIES = frozenset(code for code in phonenumbers.SUPPORTED_REGIONS if code.isalpha())


class Role(StrEnum):
    AUTHORITY = "authority"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class PrincipalKeyInfo:
    kid: str
    public_key: str
    status: str
    not_after: int | None = None  # a key its principal rotated out works until here


@dataclass(frozen=True)
class PrincipalInfo:
    id: str
    role: Role
    name: str
    country: str | None
    sealing_key: str | None
    status: str
    keys: tuple[PrincipalKeyInfo, ...] = ()

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def sealing_kid(self) -> str | None:
        return None if self.sealing_key is None else key_id(decode_sealing_public_key(self.sealing_key))


def _info(row: Principal, keys: list[PrincipalKey]) -> PrincipalInfo:
    return PrincipalInfo(
        id=row.id, role=Role(row.role), name=row.name, country=row.country, sealing_key=row.sealing_key,
        status=row.status,
        keys=tuple(PrincipalKeyInfo(k.kid, k.public_key, k.status, k.not_after)
                   for k in sorted(keys, key=lambda k: k.created_at)),
    )


@dataclass(frozen=True)
class TokenKey:
    """A token's principal and the key it names. The key verifies the token's signature whatever
    it is; only a signature that verifies learns why the key no longer counts (:meth:`refusal`)."""

    principal: PrincipalInfo
    verify_key: VerifyKey
    status: str
    not_after: int | None

    def refusal(self, now: int) -> AuthenticationError | None:
        """``KEY_REVOKED`` for a key the operator revoked, ``KEY_SUPERSEDED`` for one its principal
        rotated out whose overlap ended by ``now``; None for a key that counts."""
        if self.status == REVOKED:
            return AuthenticationError("KEY_REVOKED", "this token's key was revoked by the gateway's operator; "
                                       "sign with another registered key or ask the operator to register a new one")
        if self.not_after is not None and now >= self.not_after:
            return AuthenticationError("KEY_SUPERSEDED", "this token's key was replaced by a newer key of its "
                                       "principal and its overlap has ended; sign with the new key")
        return None


def _check_signing_key(text: str) -> tuple[str, str]:
    try:
        verify_key = decode_signing_public_key(text)
    except CryptoError as exc:
        raise BadRequest(f"signing key: {exc.message}; pass the base64 public key printed by `gateway keygen`") from exc
    return encode_public_key(verify_key), key_id(verify_key)


def refuse_key_in_use(session: Session, public: str) -> None:
    """One key, one principal: whoever holds a key registered under two ids would act as both
    (two "distinct" reviewers approving alone). Retired keys count too: a key once used stays its
    owner's. ``public`` is the canonical base64 from :func:`_check_signing_key`."""
    owner = session.scalars(select(col(PrincipalKey.principal_id))
                            .where(col(PrincipalKey.public_key) == public).limit(1)).first()
    if owner is not None:
        raise BadRequest(f"this signing key is registered to principal {owner!r} already; each principal "
                         "needs a key of its own (generate one with `gateway keygen`)")


class PrincipalRegistry:
    """Registration, suspension and key lookup; every call is one short transaction."""

    def __init__(self, db: Database, proves: Proves | None = None) -> None:
        self.db = db
        self.proves = proves
        # (principal, kid) -> (state version, token key): valid only while the version holds, and
        # every suspension, reinstatement, key change and revocation bumps it (store/versions.py), so
        # every process sharing the database sees it on its next request. The time a superseded key
        # stops is checked on every use (TokenKey.refusal), never cached.
        self._tokens: dict[tuple[str, str], tuple[int, TokenKey]] = {}
        self._lock = threading.Lock()

    def add(self, *, role: Role, principal_id: str, name: str, signing_key: str, now: int,
            country: str | None = None, sealing_key: str | None = None) -> PrincipalInfo:
        """Register a principal with its first token key. Raise :class:`BadRequest` for an id in
        use, a malformed id, country or key, or a sealing key on a role that never receives data."""
        if not _ID.fullmatch(principal_id):
            raise BadRequest("principal id must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
                             "starting with a letter or digit")
        if not name.strip() or len(name) > 200:
            raise BadRequest("name must be 1-200 characters")
        if role is Role.AUTHORITY:
            if country is None or country.upper() not in _COUNTRIES:
                raise BadRequest("an authority needs --country, an ISO 3166-1 alpha-2 code such as DE")
            if sealing_key is None:
                raise BadRequest("an authority needs --sealing-key: disclosures are sealed to it")
            country = country.upper()
        elif sealing_key is not None:
            raise BadRequest(f"a {role.value} never receives subject data and takes no --sealing-key")
        elif country is not None and country.upper() not in _COUNTRIES:
            raise BadRequest("--country must be an ISO 3166-1 alpha-2 code such as DE")
        public, kid = _check_signing_key(signing_key)
        sealing = None
        if sealing_key is not None:
            try:
                sealing = encode_public_key(decode_sealing_public_key(sealing_key))
            except CryptoError as exc:
                raise BadRequest(f"sealing key: {exc.message}") from exc
        with self.db.session() as session:
            if session.get(Principal, principal_id) is not None:
                raise BadRequest(f"principal {principal_id!r} exists already")
            refuse_key_in_use(session, public)
            session.add(Principal(id=principal_id, role=role.value, name=name.strip(), country=country,
                                  sealing_key=sealing, status=ACTIVE, created_at=now))
            session.flush()
            session.add(PrincipalKey(principal_id=principal_id, kid=kid, public_key=public, status=ACTIVE,
                                     created_at=now))
        found = self.get(principal_id)
        assert found is not None
        return found

    def add_key(self, principal_id: str, signing_key: str, *, now: int) -> str:
        """Add a token key to a principal; return its kid."""
        public, kid = _check_signing_key(signing_key)
        with self.db.session() as session:
            if session.get(Principal, principal_id) is None:
                raise BadRequest(f"no principal {principal_id!r}; see `gateway principals list`")
            if session.get(PrincipalKey, (principal_id, kid)) is not None:
                raise BadRequest(f"key {kid} is registered for {principal_id} already")
            refuse_key_in_use(session, public)
            session.add(PrincipalKey(principal_id=principal_id, kid=kid, public_key=public, status=ACTIVE,
                                     created_at=now))
            bump(session)
        return kid

    def retire_key(self, principal_id: str, kid: str, *, now: int) -> None:
        """Retire a token key: tokens signed with it stop working at once."""
        with self.db.session() as session:
            row = session.get(PrincipalKey, (principal_id, kid))
            if row is None:
                raise BadRequest(f"{principal_id} has no key {kid}; see `gateway principals list`")
            if row.status in (RETIRED, REVOKED):  # a revoked key stays revoked: its refusal says why
                return
            row.status = RETIRED
            row.retired_at = now
            bump(session)  # every process drops the approvals it verified with this key

    def revoke_key(self, principal_id: str, kid: str, *, now: int) -> tuple[str, bool]:
        """Revoke one of a principal's keys at once (docs/PROTOCOL.md §17.5): a token key's tokens are
        refused with ``KEY_REVOKED`` from the next request on, in every process (the state version
        is bumped in the same transaction); a sealing key is dropped, so nothing is sealed to the
        principal until it sets a new one. Return ``"signing"`` or ``"sealing"`` and whether this call
        changed anything (a token key revoked already: no). Raise :class:`BadRequest` for an unknown
        principal or kid."""
        with self.db.session() as session:
            principal = session.get(Principal, principal_id)
            if principal is None:
                raise BadRequest(f"no principal {principal_id!r}; see `gateway principals list`")
            row = session.get(PrincipalKey, (principal_id, kid))
            if row is not None:
                if row.status == REVOKED:
                    return "signing", False
                row.status = REVOKED
                row.retired_at = now
                bump(session)  # every process drops what it cached on this key
                return "signing", True
            if principal.sealing_key is not None and _sealing_kid(principal.sealing_key) == kid:
                principal.sealing_key = None
                principal.sealing_audit_request_id = None
                bump(session)
                return "sealing", True
        raise BadRequest(f"{principal_id} has no key {kid}; see `gateway principals list`")

    def set_status(self, principal_id: str, status: str) -> PrincipalInfo:
        """Suspend (or reactivate) a principal; a suspended principal's tokens stop working at once,
        and a suspended reviewer's approvals stop counting."""
        if status not in (ACTIVE, SUSPENDED):
            raise BadRequest(f"status must be {ACTIVE} or {SUSPENDED}")
        with self.db.session() as session:
            result = session.execute(update(Principal).where(col(Principal.id) == principal_id)
                                     .values(status=status))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise BadRequest(f"no principal {principal_id!r}; see `gateway principals list`")
            bump(session)  # every process drops what it cached about this principal
        found = self.get(principal_id)
        assert found is not None
        return found

    def get(self, principal_id: str) -> PrincipalInfo | None:
        with self.db.session() as session:
            row = session.get(Principal, principal_id)
            if row is None:
                return None
            keys = list(session.scalars(select(PrincipalKey).where(col(PrincipalKey.principal_id) == principal_id)))
            return _info(row, keys)

    def list(self, role: Role | None = None) -> list[PrincipalInfo]:
        with self.db.session() as session:
            query = select(Principal).order_by(col(Principal.id))
            if role is not None:
                query = query.where(col(Principal.role) == role.value)
            rows = list(session.scalars(query))
            keys = list(session.scalars(select(PrincipalKey)))
        by_owner: dict[str, list[PrincipalKey]] = {}
        for key in keys:
            by_owner.setdefault(key.principal_id, []).append(key)
        return [_info(row, by_owner.get(row.id, [])) for row in rows]

    def token_key(self, principal_id: str, kid: str) -> TokenKey:
        """The active principal and the verify key for a token's ``iss`` and ``kid``.

        Raise ``UNKNOWN_PRINCIPAL`` for an unknown or suspended principal and ``TOKEN_INVALID`` for
        a kid it does not hold, has retired, or that no audit entry proves (a key the principal
        added itself, docs/PROTOCOL.md §17.5) — §6. A revoked or superseded key is returned with its
        state, so the caller refuses it only after its signature verified (:meth:`TokenKey.refusal`).
        A sealing key the principal set itself counts only when its entry proves it; else the
        principal is returned without one (and is sealed nothing).
        """
        # An id we could never have issued names nothing, and never reaches the database
        # (PostgreSQL refuses a NUL in text: that would be a 500, not a refusal).
        if not _ID.fullmatch(principal_id):
            raise _unknown()
        with self.db.reads() as connection:
            version = current(connection)
            cached = self._tokens.get((principal_id, kid))
            if cached is not None and cached[0] == version and version >= 0:
                return cached[1]
            row = _PRINCIPAL.first(connection, {"id": principal_id})
            if row is None or row[5] != ACTIVE:
                raise _unknown()
            key = _KEY.first(connection, {"id": principal_id, "kid": kid})
            found_id, role, name, country, sealing_key, status, sealing_entry = row
            usable = key is not None and key[2] in (ACTIVE, REVOKED) and _matches(key[0], key[1])
            if usable and key is not None and key[4] is not None:
                usable = self._proven(connection, key[4], principal_id, SIGNING_KEY_ROTATED, (("new_kid", kid),))
            if (sealing_key is not None and sealing_entry is not None
                    and not self._proven(connection, sealing_entry, principal_id, SEALING_KEY_ROTATED,
                                         (("new_sealing_kid", _sealing_kid(sealing_key)),))):
                sealing_key = None
        if not usable or key is None:
            raise AuthenticationError("TOKEN_INVALID", "the token's kid is not an active key of its issuer; "
                                      "sign with a registered key")
        key_kid, public_key, key_status, not_after, _ = key
        info = PrincipalInfo(id=found_id, role=Role(role), name=name, country=country, sealing_key=sealing_key,
                             status=status, keys=(PrincipalKeyInfo(key_kid, public_key, key_status, not_after),))
        found = TokenKey(info, decode_signing_public_key(public_key), key_status, not_after)
        if version >= 0:
            with self._lock:
                if len(self._tokens) >= _TOKEN_CACHE:
                    self._tokens.clear()
                self._tokens[(principal_id, kid)] = (version, found)
        return found

    def _proven(self, connection: Connection, entry: str, principal_id: str, kind: str,
                values: tuple[tuple[str, Any], ...]) -> bool:
        # Deny by default: a registry built without the log's proofs believes no self-set key.
        return self.proves is not None and self.proves(connection, entry, principal_id, kind, values)


def _matches(kid: str, public_key: str) -> bool:
    """Whether a stored key is the one its kid names: an entry proves a kid, so a public key edited
    under a proven kid must not verify anything."""
    try:
        return key_id(decode_signing_public_key(public_key)) == kid
    except CryptoError:
        return False


def _sealing_kid(public_key: str) -> str | None:
    try:
        return key_id(decode_sealing_public_key(public_key))
    except CryptoError:
        return None


def _unknown() -> AuthenticationError:
    return AuthenticationError("UNKNOWN_PRINCIPAL", "the token's issuer is not a registered, active "
                               "principal; ask the gateway operator to register or reinstate it")
