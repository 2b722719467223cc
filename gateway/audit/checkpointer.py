"""Fresh checkpoints off the request path (docs/PROTOCOL.md §15).

A thread of its own polls the log's size (and the log's signing-key record, to take a rotated key,
gateway/audit/current_key.py) every ``poll`` seconds (a primary-key lookup, on a reading
connection that takes no write lock) and signs a checkpoint when the log grew and either
``every_seconds - 3·poll`` have passed since the last one it signed or ``every_entries`` entries wait
uncovered. So an entry committed at time ``t`` is covered by a checkpoint signed by
``t + every_seconds - 2·poll`` (plus the signing itself and the thread's scheduling, which a loaded
machine delays: the margin is for them), and under load checkpoints come about once per
``every_seconds``. Requests never wait for it: the writer commits
entries, this thread signs; each then hands the new checkpoint to the witness feeders.

:class:`CheckpointSchedule` is the decision alone, with time a parameter, so tests drive it
with any clock. The first tick also signs the empty tree's checkpoint if none exists (``gateway
init`` normally has), so ``GET /audit/checkpoint`` always has one to serve.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from nacl.signing import SigningKey
from sqlalchemy import Connection, Engine, func, select

from gateway.audit.checkpoints import lock_log, log_size
from gateway.audit.current_key import CurrentKey
from gateway.store.tables import AuditCheckpoint

__all__ = ["CheckpointSchedule", "Checkpointer", "sign_if_missing"]

log = logging.getLogger("gateway.audit.checkpointer")

_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]


class _Notified(Protocol):
    def notify(self) -> None: ...


@dataclass
class CheckpointSchedule:
    """When to sign: the log grew, and ``every_seconds - 3·poll`` passed since the last signing or
    ``every_entries`` entries are uncovered. ``now`` is any monotonic clock, in seconds."""

    every_seconds: float
    every_entries: int
    poll: float
    last_signed_at: float | None = None

    @classmethod
    def for_interval(cls, every_seconds: float, every_entries: int) -> CheckpointSchedule:
        return cls(every_seconds, every_entries, poll=min(0.1, every_seconds / 10))

    def due(self, now: float, size: int, signed_size: int) -> bool:
        if size <= signed_size:
            return False
        if size - signed_size >= self.every_entries or self.last_signed_at is None:
            return True
        return now - self.last_signed_at >= self.every_seconds - 3 * self.poll

    def signed(self, now: float) -> None:
        self.last_signed_at = now


def signed_size(connection: Connection) -> int | None:
    """The size of the largest stored checkpoint, or None before the first."""
    found = connection.execute(select(func.max(_checkpoints.c.tree_size))).scalar_one_or_none()
    return None if found is None else int(found)


def sign_if_missing(engine: Engine, *, origin: str, key: SigningKey | CurrentKey) -> int | None:
    """Sign the current tree (the empty tree on a new log) when no checkpoint exists; return the
    size signed, or None when one existed (or the key may not sign it)."""
    signer = key if isinstance(key, CurrentKey) else CurrentKey(key, origin=origin)
    with engine.begin() as connection:
        lock_log(connection)
        if signed_size(connection) is not None:
            return None
        return signer.checkpoint(connection, force=True)


class Checkpointer:
    """Signs fresh checkpoints on its own thread (:meth:`start`); :meth:`tick` is one poll and is
    what tests call with their own clock. ``engine`` must be a writer engine
    (:func:`gateway.audit.writer.writer_engine`), so signing takes the log's write lock; ``reader``
    (default: ``engine``) serves the polls."""

    def __init__(self, engine: Engine, *, key: SigningKey | CurrentKey, origin: str, schedule: CheckpointSchedule,
                 listeners: Sequence[_Notified] = (), clock: Callable[[], float] = time.monotonic,
                 reader: Engine | None = None) -> None:
        self.engine = engine
        self.reader = reader or engine
        self.signer = key if isinstance(key, CurrentKey) else CurrentKey(key, origin=origin)
        self.origin = origin
        self.schedule = schedule
        self.listeners = list(listeners)
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bootstrapped = False

    def tick(self, now: float) -> int | None:
        """Sign a checkpoint if one is due at ``now``; return its size, or None."""
        if not self._bootstrapped:
            sign_if_missing(self.engine, origin=self.origin, key=self.signer)
            self._bootstrapped = True
            if self.schedule.last_signed_at is None:
                self.schedule.signed(now)  # the interval counts from start: no burst of checkpoints
        with self.reader.connect() as connection:
            size, signed = log_size(connection), signed_size(connection)
            # A rotation by another process: take the new key now, for disclosure records and
            # proofs as much as for the next checkpoint (gateway/audit/current_key.py).
            self.signer.follow(connection)
        if not self.schedule.due(now, size, -1 if signed is None else signed):
            return None
        with self.engine.begin() as connection:
            lock_log(connection)
            made = self.signer.checkpoint(connection, force=False)
        self.schedule.signed(now)
        for listener in self.listeners:
            listener.notify()
        return made

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-checkpointer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(self.clock())
            except Exception as exc:  # logged without values; the next poll tries again
                log.error("audit checkpoint failed: %s", type(exc).__name__)
            self._stop.wait(self.schedule.poll)
