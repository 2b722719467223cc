"""Witness cosignatures of stored checkpoints, and which checkpoint counts as published.

A checkpoint is published once at least ``quorum`` of the configured witnesses have cosigned it
(docs/PROTOCOL.md §15); ``GET /audit/checkpoint`` serves the largest published one with those
cosignature lines appended after the gateway's own signature, which is a valid signed note with
more signatures (c2sp.org/signed-note). Only lines that verified with a witness's configured key
are stored, and only cosignatures of configured witnesses count.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from crypto.cosignature import Cosignature
from gateway.store.tables import AuditCheckpoint, AuditCosignature

__all__ = ["published_checkpoint", "store_cosignature"]

_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_cosignatures = AuditCosignature.__table__  # type: ignore[attr-defined]


def store_cosignature(engine: Engine, tree_size: int, cosignature: Cosignature) -> bool:
    """Keep a verified cosignature of the checkpoint at ``tree_size``; False if one by that
    witness is stored already (another gateway process got it first)."""
    try:
        with engine.begin() as connection:
            connection.execute(insert(_cosignatures).values(tree_size=tree_size, witness=cosignature.name,
                                                            line=cosignature.line, timestamp=cosignature.timestamp))
    except IntegrityError:
        return False
    return True


def _with_cosignatures(connection: Connection, tree_size: int, note: str, witnesses: Collection[str]) -> str:
    if not witnesses:
        return note
    lines = connection.execute(
        select(_cosignatures.c.line).where(_cosignatures.c.tree_size == tree_size,
                                           _cosignatures.c.witness.in_(sorted(witnesses)))
        .order_by(_cosignatures.c.witness)).scalars()
    return note + "".join(lines)


def published_checkpoint(connection: Connection, *, quorum: int, witnesses: Collection[str]) -> str | None:
    """The largest checkpoint cosigned by at least ``quorum`` of ``witnesses``, with their
    cosignature lines; when none is yet, the largest stored one with what cosignatures it has (a
    client that checks the quorum refuses it); None when no checkpoint is stored at all."""
    size: int | None = None
    if quorum > 0:
        size = connection.execute(
            select(_cosignatures.c.tree_size).where(_cosignatures.c.witness.in_(sorted(witnesses)))
            .group_by(_cosignatures.c.tree_size).having(func.count() >= quorum)
            .order_by(_cosignatures.c.tree_size.desc()).limit(1)).scalar_one_or_none()
    if size is None:
        size = connection.execute(select(func.max(_checkpoints.c.tree_size))).scalar_one_or_none()
    if size is None:
        return None
    note = connection.execute(select(_checkpoints.c.note).where(_checkpoints.c.tree_size == size)).scalar_one()
    return _with_cosignatures(connection, int(size), str(note), witnesses)
