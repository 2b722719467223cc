"""C2SP tlog-tiles: paths as the spec's examples write them, widths, bundles, hashes from tiles."""

from __future__ import annotations

import pytest

from crypto.errors import ProofError
from crypto.merkle import MemoryTree, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency
from crypto.tiles import (
    TileHashes,
    TileRef,
    decode_bundle,
    encode_bundle,
    parse_tile_path,
    tile_path,
    tile_width,
)


@pytest.mark.parametrize(("tile", "path"), [
    (TileRef(0, 1234067, 256), "0/x001/x234/067"),
    (TileRef(2, 0, 1), "2/000.p/1"),
    (TileRef(1, 1000, 17), "1/x001/000.p/17"),
    (TileRef(None, 5, 256), "entries/005"),
    (TileRef(None, 1234067, 112), "entries/x001/x234/067.p/112"),
])
def test_tile_paths_round_trip(tile: TileRef, path: str) -> None:
    assert tile_path(tile) == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize("path", ["00/000", "64/000", "0/1", "0/0001", "0/001/002", "0/x000/001", "0/000.p/0",
                                  "0/000.p/256", "0/000.p/07", "0/000.p", "entry/000", "0", "0/x001", "-1/000",
                                  "0/" + "x999/" * 7 + "999"])
def test_malformed_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(ProofError):
        parse_tile_path(path)


def test_widths_follow_the_specs_example_of_a_tree_of_70000() -> None:
    assert [tile_width(0, n, 70000) for n in (0, 272, 273, 274)] == [256, 256, 112, 0]
    assert [tile_width(1, n, 70000) for n in (0, 1, 2)] == [256, 17, 0]
    assert [tile_width(2, n, 70000) for n in (0, 1)] == [1, 0]
    assert tile_width(1, 0, 256) == 1


def test_bundles_round_trip_and_truncation_is_refused() -> None:
    entries = [b"", b"a", bytes(300)]
    data = encode_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert decode_bundle(data) == entries
    with pytest.raises(ProofError, match="truncated"):
        decode_bundle(data[:-1])
    with pytest.raises(ProofError):
        encode_bundle([bytes(65536)])


def _tiles_of(tree: MemoryTree, size: int) -> dict[TileRef, bytes]:
    """Every tile of the tree of ``size``, built from the tree's perfect subtrees."""
    tiles = {}
    level = 0
    while tile_width(level, 0, size):
        index = 0
        while (width := tile_width(level, index, size)) > 0:
            first = index * 256
            tiles[TileRef(level, index, width)] = b"".join(
                tree.perfect_subtree_hash(8 * level, first + i) for i in range(width))
            index += 1
        level += 1
    return tiles


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 700, 65537])
def test_roots_and_proofs_from_tiles_match_the_tree(size: int) -> None:
    tree = MemoryTree([leaf_hash(str(i).encode()) for i in range(size)])
    served = _tiles_of(tree, size)
    source = TileHashes(lambda t: served[t], size)
    assert root(source, size) == root(tree, size)
    assert inclusion_proof(source, size - 1, size) == inclusion_proof(tree, size - 1, size)
    old = max(1, size // 3)
    proof = consistency_proof(source, old, size)
    verify_consistency(old, size, proof, root(tree, old), root(tree, size))


def test_a_tile_of_the_wrong_width_is_refused() -> None:
    tree = MemoryTree([leaf_hash(b"x")] * 3)
    with pytest.raises(ProofError, match="not 3 hashes"):
        root(TileHashes(lambda t: _tiles_of(tree, 3)[t][:-32], 3), 3)
