"""Signed C2SP checkpoints of the audit log (docs/PROTOCOL.md §7)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from nacl.signing import SigningKey
from sqlalchemy import Connection, func, insert, select, text

from crypto import merkle
from crypto.note import sign_checkpoint
from gateway.audit.key_record import check_signer
from gateway.audit.tree import DbTreeSource
from gateway.store.tables import AuditCheckpoint, AuditEntry

__all__ = ["LOG_SIZE_STATEMENT", "CheckpointPolicy", "latest_checkpoint", "lock_log", "log_size", "make_checkpoint",
           "note_name", "size_after", "stored_checkpoint"]

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
# The log's write lock on PostgreSQL: a transaction-scoped advisory lock in a class of the log's own,
# keyed by the schema, since one log lives in one schema: every process writing that log takes the
# same lock, and a log in another schema of the same database (another gateway, a parallel test)
# never waits on it. SQLite needs none: ``BEGIN IMMEDIATE`` takes the database's write lock.
_LOCK_CLASS = 0x6A75_6469  # any constant shared by all gateway processes
_LOCK_STATEMENT = text("SELECT pg_advisory_xact_lock(:class, hashtext(current_schema()))")


def lock_log(connection: Connection) -> None:
    """Take the log's write lock for ``connection``'s transaction (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_STATEMENT, {"class": _LOCK_CLASS})
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CheckpointPolicy:
    """Checkpoint when the log crosses a multiple of ``every_entries`` and, if it grew, every
    ``every_seconds`` (per writer process)."""

    every_entries: int = 256
    every_seconds: float = 60.0


LOG_SIZE_STATEMENT = select(func.max(_entries.c.idx))
"""The highest index (a primary-key lookup, not a count); :func:`size_after` turns it into the size."""


def size_after(last_index: int | None) -> int:
    """The number of entries when ``last_index`` is the highest (None: the log is empty)."""
    return 0 if last_index is None else int(last_index) + 1


def log_size(connection: Connection) -> int:
    """The number of entries: one past the highest index."""
    return size_after(connection.execute(LOG_SIZE_STATEMENT).scalar_one())


def note_name(origin: str) -> str:
    """The signed-note key name: the origin, as C2SP tlog-checkpoint recommends."""
    return origin


def make_checkpoint(connection: Connection, *, origin: str, key: SigningKey, force: bool,
                    size: int | None = None) -> int | None:
    """Sign and store a checkpoint at ``size`` (default: the current size) unless one exists
    there already or the tree is empty and ``force`` is false. Return the size checkpointed.

    Call it under the log's lock (:func:`lock_log`): :class:`~gateway.errors.KeyRetired`,
    with nothing written, unless the log's key record lets ``key`` sign that size."""
    if size is None:
        size = log_size(connection)
    if size == 0 and not force:
        return None
    latest = connection.execute(select(func.max(_checkpoints.c.tree_size))).scalar_one()
    if latest is not None and latest >= size:
        return None
    check_signer(connection, bytes(key.verify_key), size)
    root = merkle.root(DbTreeSource(connection), size)
    note = sign_checkpoint(origin, size, root, note_name(origin), key)
    connection.execute(insert(_checkpoints).values(tree_size=size, root_hash=root, note=note,
                                                   created_at=int(time.time())))
    return size


def latest_checkpoint(connection: Connection) -> str | None:
    """The signed note of the largest stored checkpoint, or None before the first."""
    row: str | None = connection.execute(
        select(_checkpoints.c.note).order_by(_checkpoints.c.tree_size.desc()).limit(1)
    ).scalar_one_or_none()
    return row


def stored_checkpoint(connection: Connection, size: int) -> str | None:
    """The stored signed note at exactly ``size``, or None."""
    row: str | None = connection.execute(
        select(_checkpoints.c.note).where(_checkpoints.c.tree_size == size)
    ).scalar_one_or_none()
    return row
