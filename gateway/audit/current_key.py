"""The signing key a process holds, which follows the log's key record (gateway/audit/key_record.py)
across a rotation while the process serves (docs/PROTOCOL.md §13).

One :class:`CurrentKey` per process is shared by everything that signs: the audit writer and the
checkpointer (checkpoints), disclosure records, proofs and discovery. A checkpoint it signs is
stored only if the record, read under the log's lock in the same transaction, lets its key sign
that size; refused, it re-reads the keys directory and takes the key the record names, if it
finds it there: ``checkpoint.sign.key`` once a rotation finished its files, or the staged
``checkpoint.sign.key.next`` (the only way in where the keys come from a read-only Secret). It
checks the record on every poll of the checkpointer too, so every process signs with the new key
within a poll of the rotation, not only at its next checkpoint.

A process that does not find the record's key signs no checkpoint (the others do) and looks again
every ``retry_every`` seconds; it never signs one with a retired key.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import Connection

from crypto.encoding import b64encode
from crypto.key_schedule import ScheduledVerifier
from gateway.audit.checkpoints import make_checkpoint
from gateway.audit.key_record import KeySpan, current_span, handover_verifies, read_record
from gateway.audit.signers import schedule_for
from gateway.errors import KeyRetired, OperatorError
from gateway.keys.keyring import GatewayKeys, RetiredSigningKey

__all__ = ["CurrentKey"]

log = logging.getLogger("gateway.audit.keys")


class CurrentKey:
    """The process's signing key. ``keys`` is what it loaded (or a bare key, which then never
    changes: tools and tests that sign with one key); ``reload`` reads the keys directory again."""

    def __init__(self, keys: GatewayKeys | SigningKey, *, origin: str, reload: Callable[[], GatewayKeys] | None = None,
                 clock: Callable[[], float] = time.monotonic, retry_every: float = 2.0) -> None:
        self._keys = keys if isinstance(keys, GatewayKeys) else None
        self._signing = keys.signing_key if isinstance(keys, GatewayKeys) else keys
        self.origin = origin
        self._reload = reload
        self._clock = clock
        self._retry_every = retry_every
        self._lock = threading.Lock()
        self._missing: tuple[bytes, float] | None = None  # the record's key not found, and when we looked

    @property
    def retired(self) -> bool:
        """Whether the log's record has retired this process's key and the new one is not found yet
        (the process is then not ready: /readyz, so a load balancer sends its requests elsewhere)."""
        return self._missing is not None

    @property
    def signing_key(self) -> SigningKey:
        return self._signing

    @property
    def keys(self) -> GatewayKeys:
        """The gateway's keys as this process now holds them (the signing key it took included)."""
        if self._keys is None:
            raise TypeError("a CurrentKey made from a bare signing key holds no other keys")
        return self._keys

    def schedule(self) -> list[ScheduledVerifier]:
        return schedule_for(self.keys, self.origin)

    def checkpoint(self, connection: Connection, *, force: bool, size: int | None = None) -> int | None:
        """:func:`make_checkpoint` with this process's key, under the caller's lock of the log. If the
        record refuses the key, take the record's key (when it can be found) and sign with it;
        otherwise sign nothing and return None."""
        for _ in range(2):  # this key, then the one the record names if it was taken
            try:
                return make_checkpoint(connection, origin=self.origin, key=self._signing, force=force, size=size)
            except KeyRetired as refused:
                reason = refused.reason
                if not self._take(read_record(connection)):
                    break
        log.error("no checkpoint signed: %s; this process looks for the key the log's record names in its keys "
                  "directory every %.0f s", reason, self._retry_every)
        return None

    def follow(self, connection: Connection) -> bool:
        """Take the record's current key if it is not this one; return whether this process holds it."""
        return self._take(read_record(connection))

    def _take(self, spans: list[KeySpan]) -> bool:
        if not spans:
            return True  # never rotated: every process holds the one key
        current = current_span(spans)
        if current is None:
            return False  # no key may sign (an edited record): nothing to take
        if current.public_key == bytes(self._signing.verify_key):
            return True
        with self._lock:
            if current.public_key == bytes(self._signing.verify_key):
                return True  # another thread took it meanwhile
            now = self._clock()
            reload, base = self._reload, self._keys
            if reload is None or base is None or (
                    self._missing is not None and self._missing[0] == current.public_key
                    and now - self._missing[1] < self._retry_every):
                return False
            taken = self._find(current, reload, base)
            if taken is None:
                if self._missing is None or self._missing[0] != current.public_key:
                    log.error("the log's signing key is now %s, which this process does not hold: it signs no "
                              "checkpoint until checkpoint.sign.key or checkpoint.sign.key.next in its keys "
                              "directory is that key", b64encode(current.public_key))
                self._missing = (current.public_key, now)
                return False
            self._keys, self._signing, self._missing = taken, taken.signing_key, None
            log.warning("took over the signing key %s from tree size %d", b64encode(current.public_key),
                        current.from_size)
            return True

    def _find(self, current: KeySpan, reload: Callable[[], GatewayKeys], base: GatewayKeys) -> GatewayKeys | None:
        try:
            loaded = reload()
        except OperatorError as exc:  # a file being replaced, say: the next look finds it
            log.error("the keys directory could not be read: %s", exc)
            return None
        signing: dict[str, Any] = {}
        if bytes(loaded.signing_key.verify_key) == current.public_key:
            # The rotation's files are in place: their history is the one to publish.
            signing = {"signing_key": loaded.signing_key, "retired_signing_keys": loaded.retired_signing_keys}
        elif loaded.signing_next is not None and bytes(loaded.signing_next.verify_key) == current.public_key:
            # Staged: the files still name the old key. The boundary comes from the record, which is
            # trusted only as the new key's own signature over it, from the old key of these files.
            old = loaded.signing_key
            if current.previous_key != bytes(old.verify_key) or not handover_verifies(current, self.origin):
                log.error("the log's record of the handover to %s is not signed by that key from %s; not taken",
                          b64encode(current.public_key), b64encode(bytes(old.verify_key)))
                return None
            retired = loaded.retired_signing_keys
            if not retired or bytes(retired[-1].verify_key) != bytes(old.verify_key):
                retired = (*retired, RetiredSigningKey(old.verify_key, loaded.signing_from_size, current.from_size))
            signing = {"signing_key": loaded.signing_next, "retired_signing_keys": retired}
        else:
            return None
        return dataclasses.replace(base, signing_next=None, **signing)
