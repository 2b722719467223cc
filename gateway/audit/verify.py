"""`gateway audit verify` (docs/PROTOCOL.md §9): recompute the whole log from its entries and hold every
stored thing to it.

In index order, streaming in chunks (memory stays O(chunk + log n)), each entry is checked on its
own (:mod:`gateway.audit.entry_checks`: no gap, canonical RFC 8785, its index, salt, leaf hash and
indexed copies), in worker processes when asked (:mod:`gateway.audit.entry_pool`); that no entry
without a salt follows a salted one is checked across ranges here.

The tree is rebuilt from the leaves (RFC 9162 §2.1.1), keeping only its right edge; every node
that completes is compared with the stored ``audit_nodes`` row, since proofs are served from those.
When the rebuilt tree reaches a stored checkpoint's size, the checkpoint must verify with the
gateway's key valid at that size (c2sp.org/signed-note; :mod:`gateway.audit.signers`), name
that size, and carry the root of the first ``size``
entries; and a consistency proof from the previous checkpoint, served from the stored nodes, must
verify between their two signed roots (RFC 9162 §2.1.4.2). Checkpoints that outsiders kept
(``trusted``) are held to the same roots, which is what catches a log rewritten together with its
stored checkpoints. Finally nothing may lie past the end: no checkpoint, no tree node; and each
order's stored query count, which the gateway reads instead of counting (gateway/audit/usage.py), must
equal the disclosures the log holds for it.

Checks run in log order, so the first failure is the earliest point where the stored log stops
being what was signed and served. :func:`verify_log` returns a :class:`VerifyReport` or raises
:class:`LogVerificationError` naming that entry or checkpoint; it never passes silently.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, or_, select

from crypto import merkle
from crypto.errors import CryptoError, NoteError, RetiredKeyError
from crypto.key_schedule import ScheduledVerifier, single, verify_by_size
from crypto.note import NoteVerifier
from gateway.audit.checkpoints import log_size
from gateway.audit.entry_checks import UNSALTED, EntryBatch, node_failure
from gateway.audit.entry_pool import entry_batches
from gateway.audit.tree import DbTreeSource, prefetch_statement, prefetched
from gateway.errors import LogVerificationError, MissingNode
from gateway.store.tables import AuditCheckpoint, AuditNode, OrderRow

__all__ = [ "ProgressCallback", "VerifyReport", "verify_log"]

_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_orders = OrderRow.__table__  # type: ignore[attr-defined]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(entries verified, entries to verify)`` after each chunk."""


@dataclass(frozen=True)
class VerifyReport:
    """What verified: ``entries`` entries with root ``root_hash``, ``checkpoints`` stored checkpoints,
    ``trusted`` outside checkpoints and ``nodes`` stored tree nodes."""

    entries: int
    root_hash: bytes
    checkpoints: int
    trusted: int
    nodes: int


@dataclass(frozen=True)
class _Checkpoint:
    size: int
    note: str
    stored_root: bytes | None  # None for a trusted (outside) checkpoint
    trusted: bool


def _spanning_nodes(connection: Connection, first: int, end: int) -> dict[tuple[int, int], bytes]:
    """The stored nodes over leaves on both sides of ``first`` whose last leaf is before ``end``: the
    ones :func:`gateway.audit.entry_checks.check_range` leaves to the caller. Each holds leaves
    ``first - 1`` and ``first``, so there is at most one a level."""
    keys = [(level, first >> level) for level in range(1, end.bit_length() + 1)
            if (first >> level) << level < first and ((first >> level) + 1) << level <= end]
    if not keys:
        return {}
    return {(int(lv), int(ix)): bytes(digest) for lv, ix, digest in connection.execute(*prefetch_statement(keys))}


def _nodes_past(connection: Connection, size: int) -> list[tuple[int, int]]:
    """Stored nodes that cover a leaf at or past ``size``, lowest level first."""
    top = connection.execute(select(func.max(_nodes.c.level))).scalar_one_or_none()
    if top is None:
        return []
    conditions = [and_(_nodes.c.level == lv, _nodes.c.idx >= ((size + (1 << lv)) >> lv) - 1)
                  for lv in range(int(top) + 1)]
    rows = connection.execute(select(_nodes.c.level, _nodes.c.idx).where(or_(*conditions))
                              .order_by(_nodes.c.level, _nodes.c.idx))
    return [(int(lv), int(ix)) for lv, ix in rows]


def _consistency(source: merkle.TreeHashSource, sizes: tuple[int, int]) -> list[bytes]:
    return merkle.consistency_proof(source, *sizes)


def _check_origin(note: str, origin: str | None, size: int | None) -> None:
    """Name a changed origin for what it is: the key name is the origin (``note_name``), so after
    ``GATEWAY_ID`` changes every signature would seem to be by an unknown key."""
    if origin is None:
        return
    found = note.split("\n", 1)[0]
    if found == origin:
        return
    reason = (f"the checkpoint's origin is {found!r} but this gateway's origin is {origin!r}: GATEWAY_ID "
              "(or GATEWAY_CHECKPOINT_ORIGIN) changed after the log was written; set it back")
    if found.endswith("/audit"):
        reason += f" (the origin is '<GATEWAY_ID>/audit', so GATEWAY_ID={found.removesuffix('/audit')!r})"
    if size is None:
        raise NoteError(reason)
    raise LogVerificationError(reason, checkpoint=size)


def verify_log(connection: Connection, verifier: NoteVerifier | Sequence[ScheduledVerifier], *,
               origin: str | None = None,
               trusted: Sequence[str] = (), chunk_size: int = 2000, jobs: int = 1,
               progress: ProgressCallback | None = None) -> VerifyReport:
    """Verify the whole log on ``connection`` against the gateway's checkpoint key ``verifier``
    (and ``origin``, when given), plus any ``trusted`` signed checkpoints kept outside the database.

    Return a :class:`VerifyReport`; raise :class:`LogVerificationError` at the first entry, node or
    checkpoint that does not hold, and :class:`crypto.errors.NoteError` for a ``trusted`` note that
    does not verify with ``verifier`` (that is bad input, not a bad log). Safe while the gateway
    writes: it verifies the log as it was when it started, and what is appended meanwhile is left
    for the next run.

    With ``jobs`` above 1 the entries themselves are checked by that many worker processes,
    ``chunk_size`` at a time (:mod:`gateway.audit.entry_pool`); the tree and the checkpoints are
    still checked here, in log order, and the failure reported is the same.
    """
    if chunk_size < 1 or jobs < 1:
        raise ValueError("chunk_size and jobs must be positive")
    schedule = single(verifier) if isinstance(verifier, NoteVerifier) else list(verifier)
    # Checkpoints first, then the size: every checkpoint read is then within the entries read.
    pending = [_Checkpoint(int(size), str(note), bytes(root), trusted=False) for size, note, root in
               connection.execute(select(_checkpoints.c.tree_size, _checkpoints.c.note, _checkpoints.c.root_hash)
                                  .order_by(_checkpoints.c.tree_size))]
    for note in trusted:
        _check_origin(note, origin, None)
        outside = verify_by_size(note, schedule, origin=origin)
        pending.append(_Checkpoint(outside.size, note, None, trusted=True))
    pending.sort(key=lambda c: (c.size, c.trusted))
    counted_before = _stored_counts(connection)
    upper = log_size(connection)
    disclosed: Counter[str] = Counter()

    edge = merkle.RightEdge()
    position = 0  # checkpoints before this one in ``pending`` are done
    previous: tuple[int, bytes] | None = None  # the last stored checkpoint's (size, root)
    stored_seen = trusted_seen = nodes_seen = 0
    source = DbTreeSource(connection)

    def check_checkpoints() -> None:
        nonlocal position, previous, stored_seen, trusted_seen
        while position < len(pending) and pending[position].size == edge.size:
            checkpoint = pending[position]
            position += 1
            size = checkpoint.size
            _check_origin(checkpoint.note, origin, size)
            try:
                parsed = verify_by_size(checkpoint.note, schedule, origin=origin)
            except RetiredKeyError as exc:
                raise LogVerificationError(exc.message, checkpoint=size) from exc
            except CryptoError as exc:
                raise LogVerificationError(f"the signed note does not verify with the gateway's key: {exc.message}",
                                           checkpoint=size) from exc
            if parsed.size != size:
                raise LogVerificationError(f"the signed note is for tree size {parsed.size}", checkpoint=size)
            if checkpoint.stored_root is not None and checkpoint.stored_root != parsed.root_hash:
                raise LogVerificationError("the stored root hash differs from the signed one", checkpoint=size)
            if parsed.root_hash != edge.root():
                raise LogVerificationError(f"the signed root is not the root of the first {size} entries",
                                           checkpoint=size)
            if checkpoint.trusted:
                trusted_seen += 1
                continue
            if previous is not None and 0 < previous[0] < size:
                old_size, old_root = previous
                try:
                    proof = prefetched(source, functools.partial(_consistency, sizes=(old_size, size)))
                    merkle.verify_consistency(old_size, size, proof, old_root, parsed.root_hash)
                except (CryptoError, MissingNode) as exc:
                    raise LogVerificationError(f"not consistent with the checkpoint at tree size {old_size}: {exc}",
                                               checkpoint=size) from exc
            previous = (size, parsed.root_hash)
            stored_seen += 1

    check_checkpoints()
    batches = entry_batches(connection, upper, chunk=chunk_size, jobs=jobs)
    salted = False  # whether an earlier range held a salted entry
    try:
        for batch in batches:
            if salted:
                _unsalted_after_salted(batch)
            salted = salted or batch.salted
            first, leaves = batch.first, batch.leaves
            spanning = _spanning_nodes(connection, first, first + len(leaves))
            done = 0
            while done < len(leaves):
                # Up to the next checkpoint inside the batch, or its end: each is checked at its size.
                until = len(leaves)
                if position < len(pending) and first + done < pending[position].size < first + until:
                    until = pending[position].size - first
                # Only the nodes reaching back before the batch: check_range compared those over its leaves alone.
                for level, node_index, digest in edge.extend(leaves[done:until], report_before=first):
                    failure = node_failure(level, node_index, spanning.get((level, node_index)), digest)
                    if failure is not None:
                        raise failure
                    nodes_seen += 1
                done = until
                check_checkpoints()
            # The entries before the one where the batch found a failure are folded in first, so
            # that a node or checkpoint that fails earlier in the log is the one reported.
            batch.raise_failure()
            disclosed.update(batch.disclosed)
            nodes_seen += batch.nodes
            if progress is not None:
                progress(edge.size, upper)
    finally:
        batches.close()

    if position < len(pending):
        beyond = pending[position]
        raise LogVerificationError(f"it is past the end of the log: there are only {edge.size} entries "
                                   f"(entries {edge.size}..{beyond.size - 1} are missing)", checkpoint=beyond.size)
    # Nodes first, then the size again: a node appended meanwhile comes with its entry, which the
    # second size then covers, so only nodes without entries are reported.
    past = _nodes_past(connection, upper)
    now = log_size(connection)
    strays = [(lv, ix) for lv, ix in past if ((ix + 1) << lv) > now]
    if strays:
        level, node_index = strays[0]
        raise LogVerificationError(f"a stored tree node covers entries past the end of the log ({edge.size} "
                                   "entries)", index=edge.size, node=(level, node_index))
    _check_counts(counted_before, _stored_counts(connection), disclosed)
    return VerifyReport(entries=edge.size, root_hash=edge.root(), checkpoints=stored_seen, trusted=trusted_seen,
                        nodes=nodes_seen)


def _unsalted_after_salted(batch: EntryBatch) -> None:
    """Make ``batch``'s first unsalted entry its failure, unless the batch failed before it: an
    earlier range held a salted entry, and an unsalted one may only precede every salted one. At
    the entry where the batch failed, this comes first, as in a range: the entry is checked before
    the tree nodes its leaf completes."""
    unsalted = batch.unsalted
    if unsalted is not None and unsalted <= batch.first + len(batch.leaves):
        del batch.leaves[unsalted - batch.first:]
        batch.failure = (UNSALTED, unsalted, None)


def _stored_counts(connection: Connection) -> dict[str, int]:
    return {str(order_id): int(used) for order_id, used in connection.execute(
        select(_orders.c.id, _orders.c.queries_used))}


def _check_counts(before: dict[str, int], after: dict[str, int], disclosed: Counter[str]) -> None:
    """Hold each order's stored query count (gateway/audit/usage.py) to the disclosures in the log.

    The writer charges an order and appends the disclosure in one commit, so a count read before
    the log's size was cannot exceed the log's count, and one read after the last entry cannot
    fall below it, however much the gateway wrote meanwhile."""
    for order_id in sorted(set(before) | set(after) | set(disclosed)):
        logged = disclosed.get(order_id, 0)
        if order_id in after and after[order_id] < logged:
            raise LogVerificationError(f"its stored query count {after[order_id]} is below the {logged} "
                                       "disclosures the log holds for it", order=order_id)
        if before.get(order_id, 0) > logged:
            raise LogVerificationError(f"its stored query count {before[order_id]} is above the {logged} "
                                       "disclosures the log holds for it", order=order_id)
