"""The part of `gateway audit verify` (docs/PROTOCOL.md §9) that needs only one range of the log:
its entries, and the stored tree nodes over leaves of that range alone. Nothing is carried from one
range to the next, which is what lets :mod:`gateway.audit.entry_pool` spread ranges over processes;
the nodes that span two ranges and the checkpoints, which need the whole tree so far, stay with
:func:`gateway.audit.verify.verify_log`.

Each entry must exist (indexes without a gap), be canonical RFC 8785 JSON that parses strictly,
with ``v`` 1 and ``index`` equal to its row, have the leaf hash ``SHA-256(0x00 || entry)`` stored
beside it, and indexed copies (request id, time, principal, order, decision, action) equal to its
fields, since `audit show` and the authority's own-entry check read those. An entry's ``salt`` must
be 16 bytes of standard base64; an entry without one (as gateways wrote before entries were salted)
passes only before the first salted entry: a gateway that stopped salting would make its leaf hashes
an oracle again, so an unsalted entry after a salted one is a failure. Every tree node whose
leaves all lie in the range (RFC 9162 §2.1.1) must be stored with the hash those leaves give,
since proofs are served from those rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from crypto import merkle
from crypto.canonical import canonical_json, parse_if_canonical, parse_json_object
from crypto.encoding import b64decode
from crypto.errors import CryptoError
from gateway.audit.model import SALT_BYTES, entry_columns
from gateway.errors import LogVerificationError
from gateway.store.tables import AuditEntry, AuditNode

__all__ = ["UNSALTED", "EntryBatch", "check_range", "node_failure"]

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_COLUMNS = ("request_id", "time_us", "principal", "order_id", "decision", "action")
_stored_columns = itemgetter(*range(3, 3 + len(_COLUMNS)))
_entry_columns = itemgetter(*_COLUMNS)
_SALT_CHARS = 4 * -(-SALT_BYTES // 3)  # its standard padded base64
UNSALTED = "the entry carries no salt, though an earlier entry does"
_READ = select(_entries.c.idx, _entries.c.entry, _entries.c.leaf_hash, *(_entries.c[c] for c in _COLUMNS))


@dataclass
class EntryBatch:
    """What a range gave: the leaf hashes of the entries before the one where the first failure was
    found (all of them when none was), the disclosures per order and the nodes compared among
    those, and the failure as ``(reason, index, node)`` for :class:`LogVerificationError`. Plain
    data, so that it crosses a process boundary as it is.

    ``unsalted`` is the first entry among those that carries no salt, and ``salted`` whether any
    does: whether an unsalted entry follows a salted one in an earlier range is for the caller."""

    first: int
    leaves: list[bytes] = field(default_factory=list)
    unsalted: int | None = None
    salted: bool = False
    disclosed: Counter[str] = field(default_factory=Counter)
    nodes: int = 0
    failure: tuple[str, int | None, tuple[int, int] | None] | None = None

    def raise_failure(self) -> None:
        if self.failure is not None:
            reason, index, node = self.failure
            raise LogVerificationError(reason, index=index, node=node)


def node_failure(level: int, index: int, found: bytes | None, digest: bytes) -> LogVerificationError | None:
    """The failure of stored node ``(level, index)`` holding ``found`` where the leaves give ``digest``."""
    reason = "is missing" if found is None else "does not match the entries" if found != digest else None
    if reason is None:
        return None
    first_leaf = index << level
    return LogVerificationError(f"the stored tree node over entries {first_leaf}..{first_leaf + (1 << level) - 1} "
                                f"{reason}", index=first_leaf if level == 0 else None,
                                node=None if level == 0 else (level, index))


def _inner_nodes(connection: Connection, first: int, end: int) -> dict[tuple[int, int], bytes]:
    """The stored nodes whose leaves all lie in ``first`` .. ``end - 1``."""
    ranges, level = [], 0
    while (1 << level) <= end - first:
        lowest, highest = -(-first >> level), (end >> level) - 1  # the first node starting at or after ``first``
        if lowest <= highest:
            ranges.append(and_(_nodes.c.level == level, _nodes.c.idx.between(lowest, highest)))
        level += 1
    if not ranges:
        return {}
    rows = connection.execute(select(_nodes.c.level, _nodes.c.idx, _nodes.c.hash).where(or_(*ranges))).all()
    # As the driver gives them (int, int, bytes): a conversion each is 3% of checking a range.
    return {(lv, ix): digest for lv, ix, digest in rows}


class _InnerTree:
    """The nodes over a range's own leaves, built leaf by leaf: each that completes is compared with
    the stored one. A node whose left sibling starts before the range spans two ranges: the caller
    of :func:`check_range` has the rest of the tree, and compares it."""

    def __init__(self, first: int, stored: dict[tuple[int, int], bytes]) -> None:
        self.first = first
        self.stored = stored
        self.compared = 0
        self._left: dict[int, bytes] = {}  # level -> the last even-indexed inner node completed there

    def append(self, index: int, leaf: bytes) -> LogVerificationError | None:
        level, current, stored, left = 0, leaf, self.stored, self._left
        while True:
            found = stored.get((level, index))
            if found != current:
                return node_failure(level, index, found, current)
            self.compared += 1
            if not index & 1 or ((index - 1) << level) < self.first:
                left[level] = current
                return None
            current = merkle.node_hash(left[level], current)
            level, index = level + 1, index >> 1


def check_range(connection: Connection, first: int, end: int) -> EntryBatch:
    """Check the stored entries ``first`` .. ``end - 1`` and the nodes over them alone, in log
    order (an entry, then the nodes its leaf completes); stop at the first that does not hold."""
    batch = EntryBatch(first)
    tree = _InnerTree(first, _inner_nodes(connection, first, end))
    expected = first
    rows = connection.execute(_READ.where(_entries.c.idx >= first, _entries.c.idx < end)
                              .order_by(_entries.c.idx)).all()
    for row in rows:
        if int(row.idx) != expected:
            return _failed(batch, tree, LogVerificationError("the entry is missing", index=expected))
        try:
            leaf, salted = _check_entry(expected, row)
        except LogVerificationError as exc:
            return _failed(batch, tree, exc)
        if salted:
            batch.salted = True
        elif batch.salted:
            return _failed(batch, tree, LogVerificationError(UNSALTED, index=expected))
        elif batch.unsalted is None:
            batch.unsalted = expected
        node = tree.append(expected, leaf)
        if node is not None:
            return _failed(batch, tree, node)
        batch.leaves.append(leaf)
        if row.decision == "disclosed" and row.order_id is not None:
            batch.disclosed[row.order_id] += 1
        expected += 1
    if expected < end:
        return _failed(batch, tree, LogVerificationError("the entry is missing", index=expected))
    batch.nodes = tree.compared
    return batch


def _failed(batch: EntryBatch, tree: _InnerTree, exc: LogVerificationError) -> EntryBatch:
    batch.failure = (exc.reason, exc.index, exc.node)
    batch.nodes = tree.compared
    return batch


def _check_entry(index: int, row: Any) -> tuple[bytes, bool]:
    """Check one stored entry; return its leaf hash and whether it carries a salt."""
    text = row.entry
    try:
        raw = text.encode("utf-8")
        # The common case at C speed: one parse and one encode that must give the text back. Anything
        # else takes the strict parser and the full serialiser, for the precise reason.
        document = parse_if_canonical(text)
        if document is None:
            document = parse_json_object(raw, what="audit entry")
            if canonical_json(document) != raw:
                raise LogVerificationError("the entry is not in canonical RFC 8785 form", index=index)
    except CryptoError as exc:
        raise LogVerificationError(f"the entry does not parse: {exc.message}", index=index) from exc
    except UnicodeEncodeError as exc:
        raise LogVerificationError("the entry is not UTF-8 text", index=index) from exc
    if document.get("v") != 1:
        raise LogVerificationError("the entry is not version 1", index=index)
    claimed = document.get("index")
    if claimed != index or isinstance(claimed, bool):
        raise LogVerificationError(f"the entry stored at index {index} says it is entry {claimed!r}", index=index)
    salted = "salt" in document
    if salted:
        salt = document["salt"]
        try:
            if type(salt) is not str or len(salt) != _SALT_CHARS:
                raise ValueError(salt)
            b64decode(salt, length=SALT_BYTES)
        except (ValueError, CryptoError) as exc:
            raise LogVerificationError(f"the entry's salt is not {SALT_BYTES} bytes of standard base64",
                                       index=index) from exc
    digest = merkle.leaf_hash(raw)
    if bytes(row.leaf_hash) != digest:
        raise LogVerificationError("the stored leaf hash is not SHA-256(0x00 || entry)", index=index)
    try:
        columns = entry_columns(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise LogVerificationError("the entry lacks a required field or has one malformed", index=index) from exc
    if _stored_columns(row) != _entry_columns(columns):
        for name in _COLUMNS:
            if getattr(row, name) != columns[name]:
                raise LogVerificationError(f"the stored {name} column differs from the entry's", index=index)
    return digest, salted
