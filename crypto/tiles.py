"""C2SP tlog-tiles: tile paths, entry bundles, and tree hashes read from tiles.

A tile at level ``L`` and index ``N`` holds up to 256 consecutive Merkle tree hashes at tree height
``8·L``: hash ``i`` is the RFC 9162 hash of the perfect subtree of ``256**L`` leaves starting at
leaf ``(N·256 + i)·256**L``. A full tile is 256 hashes (8,192 bytes); the rightmost tile of a level
is partial, ``floor(size / 256**L) mod 256`` hashes wide, and served at ``.p/<W>``. ``N`` is
written as zero-padded 3-digit path elements, all but the last prefixed with ``x``
(1234067 → ``x001/x234/067``). Entry bundles hold the level-0 tile's entries, each as a big-endian
uint16 length then its bytes.

:class:`TileHashes` answers ``crypto.merkle.TreeHashSource`` from tiles, so roots and proofs can
be computed from tiles a client fetched; a computed proof verified with
:func:`crypto.merkle.verify_consistency` or :func:`crypto.merkle.verify_inclusion` against signed
roots needs no trust in the tiles. Malformed paths, tiles and bundles raise :class:`ProofError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from crypto.errors import ProofError
from crypto.merkle import HASH_SIZE, node_hash

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileHashes",
    "TileRef",
    "decode_bundle",
    "encode_bundle",
    "parse_tile_path",
    "tile_path",
    "tile_width",
]

TILE_HEIGHT = 8
TILE_WIDTH = 256
_MAX_LEVEL = 63
_MAX_ENTRY = 0xFFFF
_MAX_INDEX = 2**56  # tiles of 256 hashes over at most 2**64 entries
_ELEMENT = re.compile(r"[0-9]{3}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class TileRef:
    """A tile: ``level`` (``None`` for an entry bundle), ``index`` and ``width`` (256 when full)."""

    level: int | None
    index: int
    width: int

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH


def _index_path(index: int) -> str:
    elements = [f"{index % 1000:03d}"]
    index //= 1000
    while index > 0:
        elements.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(elements))


def tile_path(tile: TileRef) -> str:
    """``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]``, relative to ``<prefix>/tile/``."""
    if tile.index < 0 or not 1 <= tile.width <= TILE_WIDTH:
        raise ProofError("a tile has a non-negative index and a width of 1 to 256")
    head = "entries" if tile.level is None else str(tile.level)
    suffix = f".p/{tile.width}" if tile.partial else ""
    return f"{head}/{_index_path(tile.index)}{suffix}"


def parse_tile_path(path: str) -> TileRef:
    """Parse ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` strictly (c2sp.org/tlog-tiles): level
    0..63 without leading zeros, index elements of three digits with ``x`` on all but the last and
    no superfluous leading ``x000`` element, width 1..255 without leading zeros."""
    parts = path.split("/")
    width = TILE_WIDTH
    if len(parts) >= 3 and parts[-2].endswith(".p"):
        # ``.p`` belongs to the last index element: ``.../067.p/12``.
        if not _DECIMAL.fullmatch(parts[-1]) or not 1 <= int(parts[-1]) < TILE_WIDTH:
            raise ProofError("a partial tile's width must be 1 to 255 without leading zeros")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    if len(parts) < 2:
        raise ProofError("a tile path is <L>/<N>[.p/<W>] or entries/<N>[.p/<W>]")
    head, elements = parts[0], parts[1:]
    level: int | None
    if head == "entries":
        level = None
    elif _DECIMAL.fullmatch(head) and int(head) <= _MAX_LEVEL:
        level = int(head)
    else:
        raise ProofError("a tile level is 0 to 63 without leading zeros")
    index = 0
    for position, element in enumerate(elements):
        last = position == len(elements) - 1
        digits = element if last else element.removeprefix("x")
        if (not last and not element.startswith("x")) or not _ELEMENT.fullmatch(digits):
            raise ProofError("tile index elements are 3 digits, all but the last prefixed with x")
        if position == 0 and not last and digits == "000":
            raise ProofError("a tile index has no leading zero elements")
        index = index * 1000 + int(digits)
    if index >= _MAX_INDEX:
        raise ProofError("a tile index past a tree of 2**64 entries")
    return TileRef(level, index, width)


def tile_width(level: int, index: int, tree_size: int) -> int:
    """The width of tile ``index`` at ``level`` in a tree of ``tree_size`` leaves: 256 when full,
    the partial width, or 0 when the tree has none of it."""
    hashes_at_level: int = tree_size // (TILE_WIDTH**level)
    return max(0, min(TILE_WIDTH, hashes_at_level - index * TILE_WIDTH))


def encode_bundle(entries: list[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > _MAX_ENTRY:
            raise ProofError("an entry bundle holds entries of at most 65,535 bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; :class:`ProofError` if it is truncated."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ProofError("the entry bundle is truncated")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise ProofError("the entry bundle is truncated")
        entries.append(data[offset : offset + length])
        offset += length
    return entries


class TileHashes:
    """A ``TreeHashSource`` for the tree of ``tree_size`` leaves, reading tiles through ``fetch``
    (given a :class:`TileRef`, it returns the tile's bytes). Tiles are fetched at the width this
    tree size gives them and cached. A hash between tile levels is rebuilt from the tile below."""

    def __init__(self, fetch: Callable[[TileRef], bytes], tree_size: int) -> None:
        self._fetch = fetch
        self.tree_size = tree_size
        self._tiles: dict[tuple[int, int], bytes] = {}

    def tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        found = self._tiles.get(key)
        if found is None:
            width = tile_width(level, index, self.tree_size)
            if width == 0:
                raise ProofError(f"the tree of {self.tree_size} has no tile {index} at level {level}")
            found = self._fetch(TileRef(level, index, width))
            if len(found) != width * HASH_SIZE:
                raise ProofError(f"tile {index} at level {level} is not {width} hashes")
            self._tiles[key] = found
        return found

    def perfect_subtree_hash(self, level: int, index: int) -> bytes:
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height  # the first hash of this subtree at the tile level
        tile = self.tile(tile_level, first // TILE_WIDTH)
        offset = first % TILE_WIDTH
        hashes = [tile[(offset + i) * HASH_SIZE : (offset + i + 1) * HASH_SIZE] for i in range(1 << height)]
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ProofError(f"the subtree ({level}, {index}) is not in the tiles of this tree size")
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]
