"""The audit Merkle tree (RFC 9162 §2.1) over stored interior nodes, so that roots and proofs read
O(log n) rows instead of passing over the log."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, and_, bindparam, or_, select

from crypto.merkle import HASH_SIZE, TreeHashSource, node_hash
from gateway.errors import MissingNode
from gateway.store.tables import AuditNode

__all__ = ["DbTreeSource", "completed_nodes", "prefetch_statement", "prefetched", "right_edge"]

_nodes = AuditNode.__table__  # type: ignore[attr-defined]
T = TypeVar("T")


_PREFETCH_CHUNK = 128


def prefetch_statement(keys: list[tuple[int, int]]) -> tuple[Select[Any], dict[str, int]]:
    """The nodes at ``keys`` (at least one) as ORed primary-key lookups, and the values to run it
    with. Not ``(level, idx) IN (...)``: SQLite answers a row-value IN list by scanning the whole
    table, which made every batch and every proof cost as much as the log is long."""
    if not keys:
        raise ValueError("name at least one node to read")
    # Padded with the last key to a multiple of 8: fewer statement shapes, so fewer first-use compiles.
    padded = keys + keys[-1:] * (-len(keys) % 8)
    values: dict[str, int] = {}
    for number, (level, idx) in enumerate(padded):
        values[f"l{number}"] = level
        values[f"i{number}"] = idx
    return _nodes_at(len(padded)), values


@lru_cache(maxsize=2 * _PREFETCH_CHUNK)
def _nodes_at(count: int) -> Select[Any]:
    """The statement for ``count`` keys, built once: building it took more than half of a proof's time."""
    return select(_nodes.c.level, _nodes.c.idx, _nodes.c.hash).where(
        or_(*(and_(_nodes.c.level == bindparam(f"l{n}"), _nodes.c.idx == bindparam(f"i{n}")) for n in range(count))))


class DbTreeSource:
    """A ``crypto.merkle.TreeHashSource`` over the ``audit_nodes`` table, with a read-through cache
    (nodes never change once written: a changed one is tampering, which `audit verify` finds)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._cache: dict[tuple[int, int], bytes] = {}

    def perfect_subtree_hash(self, level: int, index: int) -> bytes:
        key = (level, index)
        found = self._cache.get(key)
        if found is None:
            found = self.connection.execute(
                select(_nodes.c.hash).where(_nodes.c.level == level, _nodes.c.idx == index)
            ).scalar_one_or_none()
            if found is None:
                raise MissingNode(f"audit tree node ({level}, {index}) is missing")
            self._cache[key] = found
        return found

    def remember(self, nodes: dict[tuple[int, int], bytes]) -> None:
        """Take nodes as known without reading them: ones this process computed itself."""
        self._cache.update(nodes)

    def edge(self, size: int) -> dict[tuple[int, int], bytes]:
        """The right-edge nodes of a tree of ``size`` leaves (:func:`right_edge`: the left siblings
        the next append needs) if all are known already, else nothing."""
        keys = right_edge(size)
        return {key: self._cache[key] for key in keys} if all(key in self._cache for key in keys) else {}

    def prefetch(self, keys: Iterable[tuple[int, int]]) -> None:
        wanted = list(dict.fromkeys(k for k in keys if k not in self._cache))
        for start in range(0, len(wanted), _PREFETCH_CHUNK):
            rows = self.connection.execute(*prefetch_statement(wanted[start:start + _PREFETCH_CHUNK]))
            for level, idx, digest in rows:
                self._cache[(level, idx)] = digest


class _Recorder:
    """A source that answers with placeholder hashes and notes which nodes were asked for."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []

    def perfect_subtree_hash(self, level: int, index: int) -> bytes:
        self.keys.append((level, index))
        return bytes(HASH_SIZE)


def prefetched(source: DbTreeSource, compute: Callable[[TreeHashSource], T]) -> T:
    """``compute(source)`` with every node it reads fetched in one query first. Which nodes a root
    or proof reads depends only on the sizes and indexes, never on the hashes, so a dry run with
    placeholder hashes names them all: two queries instead of one per node (up to 2·log2 n)."""
    recorder = _Recorder()
    compute(recorder)
    source.prefetch(recorder.keys)
    return compute(source)


def right_edge(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees on the right edge of a tree of ``size`` leaves: the left siblings that
    appending at index ``size`` will combine with."""
    edge: list[tuple[int, int]] = []
    level, index = 0, size
    while index > 0:
        if index & 1:
            edge.append((level, index - 1))
        level, index = level + 1, index >> 1
    return edge


def completed_nodes(source: DbTreeSource, first_index: int, leaf_hashes: list[bytes]) -> list[dict[str, object]]:
    """The nodes that become complete when ``leaf_hashes`` are appended at ``first_index``: each
    leaf at level 0, then each parent whose right child it completes (RFC 9162 §2.1.1)."""
    pending: dict[tuple[int, int], bytes] = {}

    def lookup(level: int, index: int) -> bytes:
        return pending.get((level, index)) or source.perfect_subtree_hash(level, index)

    source.prefetch(right_edge(first_index))

    for offset, digest in enumerate(leaf_hashes):
        level, index = 0, first_index + offset
        pending[(level, index)] = digest
        while index & 1:
            digest = node_hash(lookup(level, index - 1), digest)
            level, index = level + 1, index >> 1
            pending[(level, index)] = digest
    source.remember(pending)  # the next batch of this writer starts from them (DbTreeSource.edge)
    return [{"level": lv, "idx": ix, "hash": h} for (lv, ix), h in pending.items()]
