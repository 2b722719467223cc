"""The stored log as C2SP tlog-tiles resources (docs/PROTOCOL.md §15): hash tiles from the stored
tree nodes, entry bundles from the stored entry texts.

Hash ``i`` of tile ``N`` at level ``L`` is the perfect subtree at tree height ``8·L`` and index
``N·256 + i``, which ``audit_nodes`` holds for every completed subtree; so a tile is one range read.
A tile is served only when the current tree holds all of it: a partial tile of width ``W`` needs
``(N·256 + W)·256**L`` entries. Full and partial tiles never change once they exist.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from crypto.tiles import TILE_HEIGHT, TILE_WIDTH, TileRef, encode_bundle
from gateway.audit.checkpoints import log_size
from gateway.store.tables import AuditEntry, AuditNode

__all__ = ["entry_bundle", "hash_tile"]

_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_entries = AuditEntry.__table__  # type: ignore[attr-defined]


def _first_and_needed(tile: TileRef) -> tuple[int, int]:
    level = tile.level or 0
    first = tile.index * TILE_WIDTH
    return first, (first + tile.width) * TILE_WIDTH**level


def hash_tile(connection: Connection, tile: TileRef) -> bytes | None:
    """The tile's bytes, or None when the log does not (yet) hold all of it."""
    assert tile.level is not None
    first, needed = _first_and_needed(tile)
    if log_size(connection) < needed:
        return None
    rows = connection.execute(
        select(_nodes.c.idx, _nodes.c.hash).where(_nodes.c.level == tile.level * TILE_HEIGHT,
                                                  _nodes.c.idx >= first, _nodes.c.idx < first + tile.width)
        .order_by(_nodes.c.idx)).all()
    if [int(r.idx) for r in rows] != list(range(first, first + tile.width)):
        return None  # a node missing under a size that needs it: damage `audit verify` reports
    return b"".join(bytes(r.hash) for r in rows)


def entry_bundle(connection: Connection, tile: TileRef) -> bytes | None:
    """The entry bundle's bytes (each entry's exact JCS text, uint16 length-prefixed), or None
    when the log does not (yet) hold all of it."""
    first, needed = _first_and_needed(tile)
    if log_size(connection) < needed:
        return None
    rows = connection.execute(
        select(_entries.c.idx, _entries.c.entry).where(_entries.c.idx >= first, _entries.c.idx < first + tile.width)
        .order_by(_entries.c.idx)).all()
    if [int(r.idx) for r in rows] != list(range(first, first + tile.width)):
        return None
    return encode_bundle([str(r.entry).encode("utf-8") for r in rows])
