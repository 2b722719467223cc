"""Inclusion and consistency proofs over the stored tree (RFC 9162 §2.1.3, §2.1.4), each with a
signed checkpoint of the tree size it proves against (docs/PROTOCOL.md §5, §7).

The checkpoint is the stored one when a checkpoint exists at exactly that size; otherwise the
gateway signs the root of that size on demand and does not store it. Not storing keeps the read
path free of writes (no write lock, no contention with the writer) and keeps the stored series,
which `audit verify` walks, to the checkpoints the writer's policy made. An on-demand note is as
binding as a stored one: it signs a root computed from the same append-only tree, so any later
rewrite of the log is caught by its holder with a consistency proof.

Bad sizes and indexes raise :class:`gateway.errors.BadRequest` with a message that says what is
allowed; the tree size itself is no secret (every principal may read checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import Connection, select

from crypto import merkle
from crypto.canonical import parse_json_object
from crypto.note import sign_checkpoint
from gateway.audit.checkpoints import log_size, note_name, stored_checkpoint
from gateway.audit.tree import DbTreeSource, prefetched
from gateway.errors import BadRequest
from gateway.store.tables import AuditEntry

__all__ = ["ConsistencyProofData", "InclusionProofData", "StoredEntry", "check_index", "checked_tree_size",
           "consistency", "inclusion", "signed_checkpoint", "stored_entries", "stored_entry"]

_entries = AuditEntry.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class InclusionProofData:
    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]
    checkpoint: str


@dataclass(frozen=True)
class ConsistencyProofData:
    from_size: int
    to_size: int
    hashes: list[bytes]
    checkpoint: str


@dataclass(frozen=True)
class StoredEntry:
    index: int
    text: str  # the exact JCS text that was hashed
    leaf_hash: bytes

    def document(self) -> dict[str, Any]:
        return parse_json_object(self.text, what="audit entry")


def signed_checkpoint(connection: Connection, size: int, *, origin: str, key: SigningKey) -> str:
    """The signed checkpoint at exactly ``size``: the stored one, or one signed now (not stored)."""
    note = stored_checkpoint(connection, size)
    if note is not None:
        return note
    source = DbTreeSource(connection)
    root = prefetched(source, lambda s: merkle.root(s, size))
    return sign_checkpoint(origin, size, root, note_name(origin), key)


def checked_tree_size(connection: Connection, tree_size: int | None, *, name: str = "treeSize") -> int:
    """``tree_size``, or the current size when None; :class:`BadRequest` unless 1 <= it <= current."""
    current = log_size(connection)
    if tree_size is None:
        if current == 0:
            raise BadRequest("the audit log is empty; there is nothing to prove yet")
        return current
    if tree_size <= 0:
        raise BadRequest(f"{name} must be at least 1")
    if tree_size > current:
        raise BadRequest(f"{name} {tree_size} is past the current tree size {current}")
    return tree_size


def stored_entry(connection: Connection, index: int) -> StoredEntry:
    """The entry at ``index``; :class:`BadRequest` if there is none."""
    row = connection.execute(
        select(_entries.c.idx, _entries.c.entry, _entries.c.leaf_hash).where(_entries.c.idx == index)
    ).first()
    if row is None:
        raise BadRequest(f"there is no audit entry at index {index}")
    return StoredEntry(int(row.idx), str(row.entry), bytes(row.leaf_hash))


def stored_entries(connection: Connection, first: int, limit: int) -> list[StoredEntry]:
    """Up to ``limit`` entries from index ``first`` on, in index order (fewer at the end of the log)."""
    rows = connection.execute(
        select(_entries.c.idx, _entries.c.entry, _entries.c.leaf_hash)
        .where(_entries.c.idx >= first, _entries.c.idx < first + limit).order_by(_entries.c.idx)).all()
    return [StoredEntry(int(r.idx), str(r.entry), bytes(r.leaf_hash)) for r in rows]


def check_index(index: int, tree_size: int) -> None:
    """:class:`BadRequest` unless ``0 <= index < tree_size``."""
    if index < 0:
        raise BadRequest("index must not be negative")
    if index >= tree_size:
        raise BadRequest(f"index {index} is not below the tree size {tree_size}")


def inclusion(connection: Connection, index: int, tree_size: int | None, *, origin: str,
              key: SigningKey) -> InclusionProofData:
    """The audit path of entry ``index`` in the tree of ``tree_size`` entries (default: the whole
    log now) and a checkpoint of that size. Raise :class:`BadRequest` for an index or size outside
    the log."""
    size = checked_tree_size(connection, tree_size)
    check_index(index, size)
    source = DbTreeSource(connection)
    hashes = prefetched(source, lambda s: merkle.inclusion_proof(s, index, size))
    return InclusionProofData(index=index, tree_size=size, leaf_hash=source.perfect_subtree_hash(0, index),
                              hashes=hashes, checkpoint=signed_checkpoint(connection, size, origin=origin, key=key))


def consistency(connection: Connection, from_size: int, to_size: int, *, origin: str,
                key: SigningKey) -> ConsistencyProofData:
    """The proof that the tree of ``from_size`` entries is a prefix of the tree of ``to_size``, and
    a checkpoint of ``to_size``. Raise :class:`BadRequest` for ``from_size < 1`` (a proof from the
    empty tree proves nothing), ``from_size > to_size`` or ``to_size`` past the log."""
    if from_size <= 0:
        raise BadRequest("fromSize must be at least 1: a proof from the empty tree proves nothing")
    if from_size > to_size:
        raise BadRequest(f"fromSize {from_size} is larger than toSize {to_size}")
    size = checked_tree_size(connection, to_size, name="toSize")
    source = DbTreeSource(connection)
    hashes = prefetched(source, lambda s: merkle.consistency_proof(s, from_size, size))
    return ConsistencyProofData(from_size=from_size, to_size=size, hashes=hashes,
                                checkpoint=signed_checkpoint(connection, size, origin=origin, key=key))
