"""The log's signing-key record (the ``audit_signing_keys`` table, docs/PROTOCOL.md §13): which key
signs which tree sizes, shared by every process writing the log.

Every checkpoint insert checks it under the log's lock (:func:`check_signer`, called by
:func:`gateway.audit.checkpoints.make_checkpoint`), and a rotation changes it under the same lock
(:func:`hand_over`): so once a rotation commits, no process can store a checkpoint signed by the
retired key past its end, whatever key it still holds. Before the first rotation the table is
empty and every process signs with the key it loaded (all hold the same file).

The record decides who may sign; it is never what makes a checkpoint verify. A key that took
over signs its handover (the key before it and the size it takes over at), so a process that
holds the new key can check that the boundary it publishes was not edited in the database.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import Connection, insert, select, update

from crypto.encoding import b64decode, b64encode
from crypto.errors import CryptoError
from crypto.signing import sign_document, verify_document_signature
from gateway.errors import KeyRetired
from gateway.keys.keyring import GatewayKeys
from gateway.store.tables import AuditSigningKey

__all__ = ["HANDOVER_DOMAIN", "KeySpan", "check_signer", "current_span", "hand_over",
           "handover_verifies", "read_record", "seed_record"]

HANDOVER_DOMAIN = b"disclosure-gateway/signing-key-handover/v1"
_keys = AuditSigningKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class KeySpan:
    """One key of the record: it signs tree sizes ``from_size..until_size`` (None: the current key)."""

    public_key: bytes
    from_size: int
    until_size: int | None
    previous_key: bytes | None = None
    handover: str | None = None

    def covers(self, size: int) -> bool:
        return self.until_size is None or size <= self.until_size


def _raw(text: str | None) -> bytes | None:
    return None if text is None else b64decode(text, length=32, what="a signing public key")


def read_record(connection: Connection) -> list[KeySpan]:
    """Every key of the record, earliest first (the current one last)."""
    rows = connection.execute(select(_keys.c.public_key, _keys.c.from_size, _keys.c.until_size, _keys.c.previous_key,
                                     _keys.c.handover)).all()
    spans = [KeySpan(b64decode(str(pk), length=32, what="a signing public key"), int(start),
                     None if end is None else int(end), _raw(previous), None if handover is None else str(handover))
             for pk, start, end, previous, handover in rows]
    return sorted(spans, key=lambda s: (s.until_size is None, s.from_size, s.until_size or 0))


def current_span(spans: Sequence[KeySpan]) -> KeySpan | None:
    return next((s for s in spans if s.until_size is None), None)


def check_signer(connection: Connection, public_key: bytes, size: int) -> None:
    """Raise :class:`KeyRetired` unless ``public_key`` may sign a checkpoint of ``size``. Call it
    under the log's lock, in the transaction that stores the checkpoint."""
    spans = read_record(connection)
    if not spans:
        return  # never rotated: every process holds the one key
    own = next((s for s in spans if s.public_key == public_key), None)
    if own is None or not own.covers(size):
        raise _refusal(public_key, size, own)


def _refusal(held: bytes, size: int, own: KeySpan | None) -> KeyRetired:
    ended = "it is not in the log's key record" if own is None else f"it was retired at tree size {own.until_size}"
    return KeyRetired(f"the signing key {b64encode(held)} may not sign tree size {size}: {ended}", size=size)


def seed_record(connection: Connection, keys: GatewayKeys) -> None:
    """Write the key files' history and current key into an empty record (under the log's lock)."""
    if connection.execute(select(_keys.c.public_key).limit(1)).first() is not None:
        return
    now = int(time.time())
    rows: list[dict[str, object]] = [
        {"public_key": b64encode(bytes(k.verify_key)), "from_size": k.from_size, "until_size": k.until_size,
         "created_at": now} for k in keys.retired_signing_keys]
    rows.append({"public_key": b64encode(bytes(keys.signing_key.verify_key)), "from_size": keys.signing_from_size,
                 "until_size": None, "created_at": now})
    connection.execute(insert(_keys), rows)


def _handover_document(origin: str, previous: bytes, size: int, new: bytes) -> dict[str, object]:
    return {"origin": origin, "previous_key": b64encode(previous), "from_size": size, "public_key": b64encode(new)}


def hand_over(connection: Connection, *, origin: str, old: VerifyKey, new: SigningKey, size: int) -> None:
    """Retire ``old`` at ``size`` and make ``new`` current, under the log's lock. A compare-and-set
    on ``old`` being current: :class:`KeyRetired` if it is not (another rotation came first)."""
    retired = connection.execute(update(_keys).where(_keys.c.public_key == b64encode(bytes(old)),
                                                     _keys.c.until_size.is_(None)).values(until_size=size))
    if retired.rowcount != 1:
        raise _refusal(bytes(old), size, next((s for s in read_record(connection) if s.public_key == bytes(old)), None))
    new_public = bytes(new.verify_key)
    signature = sign_document(HANDOVER_DOMAIN, _handover_document(origin, bytes(old), size, new_public), new)
    connection.execute(insert(_keys).values(public_key=b64encode(new_public), from_size=size, until_size=None,
                                            previous_key=b64encode(bytes(old)), handover=signature,
                                            created_at=int(time.time())))


def handover_verifies(span: KeySpan, origin: str) -> bool:
    """Whether ``span``'s handover is signed by its own key over its previous key and from size."""
    if span.previous_key is None or span.handover is None:
        return False
    document = _handover_document(origin, span.previous_key, span.from_size, span.public_key)
    try:
        verify_document_signature(HANDOVER_DOMAIN, document, span.handover, VerifyKey(span.public_key))
    except CryptoError:
        return False
    return True
