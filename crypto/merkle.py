"""RFC 9162 Merkle trees: tree hashes, inclusion and consistency proofs (docs/PROTOCOL.md §7).

The audit log is an RFC 9162 §2.1 Merkle tree over SHA-256: leaf hash ``SHA-256(0x00 || entry)``,
interior node ``SHA-256(0x01 || left || right)``, empty tree ``SHA-256("")``.

Proofs are generated from a :class:`TreeHashSource`, which hands out hashes of *perfect* subtrees
(complete, power-of-two sized and aligned). Every tree hash the RFC recursions need splits into at
most ``log2(n) + 1`` such subtrees, so :func:`root`, :func:`inclusion_proof` and
:func:`consistency_proof` read ``O(log n)`` hashes from the source and never walk the leaves. A
store that keeps each perfect subtree hash as it completes (:func:`subtree_nodes_completed`) can
therefore serve proofs for any tree size it has ever had.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 with the edge rules of transparency-dev/merkle's
``proof`` package that ``tests/assets/vectors/merkle`` encodes, made strict: every hash (leaf, root, proof
element) is exactly :data:`HASH_SIZE` bytes; a consistency proof from size 0 is refused; for equal
sizes the proof must be empty and the roots equal. Every failure raises :class:`ProofError`.
(So one upstream test case, two identical 12-byte "roots" for equal sizes, is refused here.)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeAlias

from crypto.errors import ProofError

__all__ = [
    "HASH_SIZE",
    "MemoryTree",
    "RightEdge",
    "SubtreeNode",
    "TreeHashSource",
    "consistency_proof",
    "empty_root",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root",
    "root_from_inclusion_proof",
    "subtree_nodes_completed",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every tree hash (SHA-256)."""

_MAX_COUNT = 2**64 - 1
"""Tree sizes and indexes are uint64 in RFC 9162 (and in every other implementation)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class TreeHashSource(Protocol):
    """Where proof generation reads tree hashes from: the hashes of perfect subtrees.

    ``perfect_subtree_hash(level, index)`` returns the RFC 9162 §2.1.1 tree hash of the
    ``2**level`` leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hashes
    themselves. It is only asked about subtrees that lie wholly inside the tree being proved, and
    the algorithms here ask for ``O(log n)`` of them per root or proof, so an implementation over a
    database table of stored nodes costs a handful of indexed reads. A source that does not hold a
    requested node must raise :class:`ProofError` (or another :class:`crypto.errors.CryptoError`),
    not return a placeholder; a returned value that is not a 32-byte ``bytes`` is refused with
    :class:`ProofError`.
    """

    def perfect_subtree_hash(self, level: int, index: int) -> bytes:
        """The hash of the perfect subtree ``index`` at height ``level``; raise ``ProofError`` if unknown."""
        ...


SubtreeNode: TypeAlias = tuple[int, int, bytes]
"""A perfect subtree as ``(level, index, hash)``: height (0 = leaf), index at that height, tree hash."""


# --- hashing (RFC 9162 §2.1.1) -----------------------------------------------------------------


def empty_root() -> bytes:
    """The root hash of the empty tree, ``SHA-256("")`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The leaf hash ``SHA-256(0x00 || data)`` of one entry (RFC 9162 §2.1.1).

    Raises :class:`ProofError` if ``data`` is not bytes-like.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProofError("leaf data must be bytes")
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The interior hash ``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1).

    Raises :class:`ProofError` unless both children are :data:`HASH_SIZE`-byte hashes.
    """
    _check_hash(left, "left child hash")
    _check_hash(right, "right child hash")
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


# --- building and reading trees ------------------------------------------------------------------


def subtree_nodes_completed(
    size_before: int, leaf_hash: bytes, lookup: Callable[[int, int], bytes]
) -> list[SubtreeNode]:
    """The perfect subtrees completed by appending ``leaf_hash`` as leaf number ``size_before``.

    Returns ``(level, index, hash)`` tuples (:data:`SubtreeNode`): the new leaf itself (level 0,
    index ``size_before``) followed by each ancestor that the append completes: while a node's
    index is odd it is a right child, so its parent is now complete, with hash
    ``node_hash(left sibling, node)``. Storing exactly these nodes after every append keeps a
    store able to answer every :meth:`TreeHashSource.perfect_subtree_hash` call.

    ``lookup(level, index)`` must return the hash of the (already complete) left sibling at that
    level and index; it is called once per completed ancestor, i.e. as many times as
    ``size_before`` has trailing one bits (at most ``log2(size_before) + 1``), and
    ``source.perfect_subtree_hash`` of any :class:`TreeHashSource` fits.

    Raises :class:`ProofError` for a negative or too large ``size_before``, a leaf hash that is
    not 32 bytes, or a lookup that returns something other than a 32-byte hash.
    """
    _check_count(size_before, "size before the append")
    if size_before == _MAX_COUNT:
        raise ProofError("the tree is full (2**64 - 1 leaves)")
    _check_hash(leaf_hash, "leaf hash")
    nodes: list[SubtreeNode] = [(0, size_before, leaf_hash)]
    level, index, current = 0, size_before, leaf_hash
    while index & 1:
        left = _checked_lookup(lookup(level, index - 1), level, index - 1)
        current = node_hash(left, current)
        level, index = level + 1, index >> 1
        nodes.append((level, index, current))
    return nodes


class RightEdge:
    """A tree built leaf by leaf that keeps only its right edge (one perfect subtree per set bit of
    the size): O(log n) memory, for streaming a whole log through once (verifying it, pre-filling
    one). :meth:`append` reports every node the leaf completes, as :func:`subtree_nodes_completed`."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: dict[int, bytes] = {}  # level -> hash of the edge's perfect subtree at that level

    def append(self, leaf_hash: bytes) -> list[SubtreeNode]:
        """Append one leaf hash; return the nodes it completes, the leaf first.

        Raises :class:`ProofError` for a leaf hash that is not 32 bytes or a full tree."""
        _check_hash(leaf_hash, "leaf hash")
        if self.size == _MAX_COUNT:
            raise ProofError("the tree is full (2**64 - 1 leaves)")
        # The climb of subtree_nodes_completed, without its per-node checks: every hash on the edge
        # was checked or computed here, and this runs once for each entry of a whole log.
        index, level, current, edge = self.size, 0, leaf_hash, self._edge
        nodes: list[SubtreeNode] = [(0, index, leaf_hash)]
        while index & 1:
            current = hashlib.sha256(_NODE_PREFIX + edge.pop(level) + current).digest()
            level, index = level + 1, index >> 1
            nodes.append((level, index, current))
        edge[level] = current
        self.size += 1
        return nodes

    def extend(self, leaf_hashes: Sequence[bytes], *, report_before: int) -> list[SubtreeNode]:
        """Append every leaf of ``leaf_hashes``, as :meth:`append` one by one, and return only the
        nodes above level 0 that they complete and that cover a leaf before index ``report_before``.

        For a verifier that has checked a range's own nodes elsewhere and still has to check the
        ones that reach back into the tree before it: one loop over the range, no list a leaf.
        Raises :class:`ProofError` for a leaf hash that is not 32 bytes or a tree that would overflow."""
        if len(leaf_hashes) > _MAX_COUNT - self.size:
            raise ProofError("the tree is full (2**64 - 1 leaves)")
        edge, sha256, prefix = self._edge, hashlib.sha256, _NODE_PREFIX
        reported: list[SubtreeNode] = []
        size = self.size
        for leaf_hash in leaf_hashes:
            if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
                raise ProofError(f"leaf hash must be {HASH_SIZE} bytes")
            index, level, current = size, 0, leaf_hash
            while index & 1:
                current = sha256(prefix + edge.pop(level) + current).digest()
                level, index = level + 1, index >> 1
                if index << level < report_before:
                    reported.append((level, index, current))
            edge[level] = current
            size += 1
            self.size = size
        return reported

    def root(self) -> bytes:
        """The root hash of the leaves appended so far (RFC 9162 §2.1.1)."""
        levels = sorted(self._edge)
        if not levels:
            return empty_root()
        result = self._edge[levels[0]]
        for level in levels[1:]:
            result = node_hash(self._edge[level], result)
        return result


class MemoryTree:
    """An in-memory tree that keeps every completed perfect subtree, so lookups are O(1).

    It implements :class:`TreeHashSource` and serves proofs and roots for every size up to
    :attr:`size`. Meant for tests, tools and offline verification; the gateway keeps the same
    nodes in its database.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Build the tree from ``leaf_hashes`` in order; raise :class:`ProofError` for a malformed hash."""
        self._levels: list[list[bytes]] = [[]]
        for value in leaf_hashes:
            self.append(value)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash; raise :class:`ProofError` unless it is 32 bytes."""
        for level, _, node in subtree_nodes_completed(self.size, leaf_hash, self.perfect_subtree_hash):
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(node)

    def perfect_subtree_hash(self, level: int, index: int) -> bytes:
        """The hash of perfect subtree ``index`` at ``level``; :class:`ProofError` if not complete."""
        if (
            isinstance(level, bool)
            or isinstance(index, bool)
            or not 0 <= level < len(self._levels)
            or not 0 <= index < len(self._levels[level])
        ):
            raise ProofError(f"the tree of size {self.size} has no complete subtree at level {level}, "
                             f"index {index}")
        return self._levels[level][index]


def root(source: TreeHashSource, size: int) -> bytes:
    """The root hash of the first ``size`` leaves of ``source`` (RFC 9162 §2.1.1).

    ``size`` 0 gives :func:`empty_root`. Reads one hash from ``source`` per set bit of ``size``,
    so at most ``size.bit_length()``. Raises :class:`ProofError` for a negative size or a source
    that lacks a node.
    """
    _check_count(size, "tree size")
    if size == 0:
        return empty_root()
    return range_hash(source, 0, size)


def range_hash(source: TreeHashSource, start: int, end: int) -> bytes:
    """The tree hash ``MTH(D[start:end])`` of leaves ``[start, end)`` (RFC 9162 §2.1.1).

    The RFC splits ``D[n]`` into a perfect left part of ``k`` leaves (``k`` the largest power of
    two below ``n``) and the rest, so ``MTH(D[start:end])`` is the right fold of ``node_hash``
    over the perfect subtrees of the binary decomposition of ``end - start``, each read with one
    ``source`` lookup. That works when each of those subtrees is aligned (starts at a multiple of
    its own width), which holds for every range the §2.1.3 and §2.1.4 recursions ask about; any
    other range raises :class:`ProofError`, as does an empty or negative one.
    """
    _check_count(start, "range start")
    _check_count(end, "range end")
    if start >= end:
        raise ProofError(f"leaf range [{start}, {end}) is empty")
    pieces: list[bytes] = []
    position = start
    while position < end:
        width = 1 << ((end - position).bit_length() - 1)  # largest power of two <= remaining leaves
        if position % width:
            raise ProofError(f"leaf range [{start}, {end}) does not split into aligned perfect subtrees")
        level = width.bit_length() - 1
        pieces.append(_read(source, level, position >> level))
        position += width
    result = pieces.pop()
    while pieces:
        result = node_hash(pieces.pop(), result)
    return result


# --- proof generation ----------------------------------------------------------------------------


def inclusion_proof(source: TreeHashSource, index: int, size: int) -> list[bytes]:
    """The audit path ``PATH(index, D[size])`` of RFC 9162 §2.1.3.1, innermost hash first.

    Reads at most ``2 * size.bit_length()`` hashes from ``source``: one per level, except that
    the first right sibling may be an incomplete subtree of one lookup per set bit. Raises
    :class:`ProofError` unless ``0 <= index < size``, or if ``source`` lacks a node.
    """
    _check_count(index, "leaf index")
    _check_count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    siblings: list[bytes] = []  # outermost first; reversed at the end
    low, high = 0, size
    while high - low > 1:
        k = _split(high - low)
        if index < low + k:
            # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])  for m < k
            siblings.append(range_hash(source, low + k, high))
            high = low + k
        else:
            # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])  for m >= k
            siblings.append(range_hash(source, low, low + k))
            low += k
    siblings.reverse()
    return siblings


def consistency_proof(source: TreeHashSource, size1: int, size2: int) -> list[bytes]:
    """The consistency proof ``PROOF(size1, D[size2])`` of RFC 9162 §2.1.4.1.

    Empty when the sizes are equal. Reads at most ``2 * size2.bit_length()`` hashes from
    ``source`` (as :func:`inclusion_proof`). Raises :class:`ProofError` for ``size1 == 0`` (the
    RFC defines proofs for ``0 < m``; a proof from the empty tree proves nothing and the shared
    vectors require refusing it), ``size1 > size2``, negative sizes, or a source that
    lacks a node.
    """
    _check_count(size1, "first tree size")
    _check_count(size2, "second tree size")
    if size1 == 0:
        raise ProofError("a consistency proof from tree size 0 is refused")
    if size1 > size2:
        raise ProofError(f"first tree size {size1} exceeds second tree size {size2}")
    if size1 == size2:
        return []
    # SUBPROOF(m, D[low:high], b) in absolute leaf positions: m stays ``size1``, and the RFC's
    # m == n becomes size1 == high. 0 < size1 - low <= high - low holds throughout, so the loop
    # ends before the range shrinks to one leaf.
    proof: list[bytes] = []  # outermost first; reversed at the end
    low, high, from_old_tree = 0, size2, True
    while size1 != high:
        k = _split(high - low)
        if size1 <= low + k:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])  for m <= k
            proof.append(range_hash(source, low + k, high))
            high = low + k
        else:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  for m > k
            proof.append(range_hash(source, low, low + k))
            low += k
            from_old_tree = False
    if not from_old_tree:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}; with b true it is {}, the verifier knows it.
        proof.append(range_hash(source, low, high))
    proof.reverse()
    return proof


# --- verification --------------------------------------------------------------------------------


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root hash that ``proof`` yields for ``leaf_hash`` at ``index`` in a tree of ``size``.

    RFC 9162 §2.1.3.2 steps 1-4. The result means nothing until compared with a trusted root;
    use :func:`verify_inclusion` for that. Raises :class:`ProofError` unless
    ``0 <= index < size``, every hash is 32 bytes and ``proof`` has exactly the length the
    position requires.
    """
    _check_count(index, "leaf index")
    _check_count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    _check_hash(leaf_hash, "leaf hash")
    path = _check_proof(proof)
    expected = _path_length(index, size - 1)
    if len(path) != expected:
        raise ProofError(f"inclusion proof has {len(path)} hashes, expected {expected} for leaf "
                         f"{index} of {size}")
    fn, sn, result = index, size - 1, leaf_hash  # §2.1.3.2 steps 2-3
    for element in path:  # step 4
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(element, result)
            while fn and not fn & 1:  # fn == sn: skip levels where this node has no sibling
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 5
        raise ProofError("inclusion proof is too short")
    return result


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with hash ``root``.

    RFC 9162 §2.1.3.2. Returns None when the proof holds; raises :class:`ProofError` otherwise,
    including for an index outside the tree and for any hash that is not 32 bytes.
    """
    _check_hash(root, "root hash")
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if not hmac.compare_digest(computed, root):
        raise ProofError("inclusion proof does not lead to the root hash")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of ``size1`` leaves and hash ``root1`` is a prefix of ``size2``, ``root2``.

    RFC 9162 §2.1.4.2. Returns None when the proof holds. Raises :class:`ProofError` when it does
    not, and also for ``size1 == 0`` (refused even when ``size2 == 0``: nothing is proved),
    ``size1 > size2``, negative sizes, any hash that is not 32 bytes (for unequal sizes), a non-empty proof for equal
    sizes or different roots for equal sizes. For equal sizes the roots are compared as given.
    """
    _check_count(size1, "first tree size")
    _check_count(size2, "second tree size")
    if size1 == 0:
        raise ProofError("a consistency proof from tree size 0 is refused")
    if size2 < size1:
        raise ProofError(f"first tree size {size1} exceeds second tree size {size2}")
    elements = _check_proof(proof)
    if size1 == size2:
        # Equal sizes prove only that the two roots are the same bytes; transparency-dev checks no
        # length here, and the vectors (sizes-are-equal-one-and-proof-is-empty) encode that.
        if elements:
            raise ProofError("consistency proof between equal tree sizes must be empty")
        if not hmac.compare_digest(root1, root2):
            raise ProofError("root hashes differ for equal tree sizes")
        return
    _check_hash(root1, "first root hash")
    _check_hash(root2, "second root hash")
    if not elements:  # §2.1.4.2 step 1
        raise ProofError("consistency proof is empty")
    path = list(elements)
    root1_implied = size1 & (size1 - 1) == 0
    if root1_implied:  # step 2: the old tree is a perfect subtree, so its root starts the chain
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    expected = _path_length(fn, sn) + 1
    if len(path) != expected:
        raise ProofError(f"consistency proof has {len(elements)} hashes, expected {expected - int(root1_implied)} "
                         f"from size {size1} to {size2}")
    first = second = path[0]  # step 5
    for element in path[1:]:  # step 6
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            first = node_hash(element, first)
            second = node_hash(element, second)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 7
        raise ProofError("consistency proof is too short")
    if not hmac.compare_digest(first, root1):
        raise ProofError("consistency proof does not lead to the first root hash")
    if not hmac.compare_digest(second, root2):
        raise ProofError("consistency proof does not lead to the second root hash")


# --- helpers -------------------------------------------------------------------------------------


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``): RFC 9162 §2.1.1's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def _path_length(fn: int, sn: int) -> int:
    """How many proof hashes the §2.1.3.2 / §2.1.4.2 loops consume from ``(fn, sn)`` until ``sn`` is 0."""
    steps = 0
    while sn:
        if fn == sn:
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        fn, sn = fn >> 1, sn >> 1
        steps += 1
    return steps


def _check_count(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{what} must be an integer")
    if value < 0:
        raise ProofError(f"{what} must not be negative")
    if value > _MAX_COUNT:
        raise ProofError(f"{what} exceeds 2**64 - 1")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


def _check_proof(proof: Sequence[bytes]) -> list[bytes]:
    if isinstance(proof, (bytes, bytearray, memoryview, str)):
        raise ProofError("proof must be a sequence of hashes, not a single value")
    elements = list(proof)
    for position, element in enumerate(elements):
        _check_hash(element, f"proof hash {position}")
    return elements


def _read(source: TreeHashSource, level: int, index: int) -> bytes:
    return _checked_lookup(source.perfect_subtree_hash(level, index), level, index)


def _checked_lookup(value: bytes, level: int, index: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"tree node at level {level}, index {index} is not a {HASH_SIZE}-byte hash")
    return value
