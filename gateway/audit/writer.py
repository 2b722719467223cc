"""The audit log's one writer (docs/PROTOCOL.md §7, STYLE.md practice 8): nothing else inserts entries.

Requests hand their :class:`AuditEvent` to :meth:`AuditWriter.append` and wait. A committer thread
takes every event queued meanwhile and writes them in ONE transaction: the entries with dense,
ordered indexes, the Merkle nodes they complete, the query each disclosure counts against its
order (with the MAC that lets a reader trust the count, gateway/audit/usage.py), and the jti of each
request's token (docs/PROTOCOL.md §2: a jti already recorded, or twice in the batch, makes the
later request a TOKEN_REPLAYED refusal); then one commit, which is one fsync (SQLite WAL with
``synchronous=FULL``; PostgreSQL with ``synchronous_commit`` on, which the writer's connections
enforce). Only after that do the waiting
requests get their receipts and answer.

Indexes stay dense and ordered across processes sharing one database: every batch holds the
database's write lock (SQLite ``BEGIN IMMEDIATE``; a PostgreSQL transaction-scoped advisory lock,
under READ COMMITTED so the next statement sees the previous holder's commit) from reading the
next index to its commit. The primary key on the index backs this up: a second writer that got it
wrong would fail its insert, never fork the log.

One event never sinks the others in its batch: values that no column can hold are written as
NULL copies (the entry text keeps them), and a batch the database refuses for its data is retried
one event per transaction, so only the event at fault gets ``AuditUnavailable``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import Connection, Engine, bindparam, create_engine, event, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError

from crypto.canonical import canonical_json
from crypto.encoding import b64encode
from crypto.merkle import leaf_hash
from gateway.audit.checkpoints import (
    LOG_SIZE_STATEMENT,
    CheckpointPolicy,
    latest_checkpoint,
    lock_log,
    size_after,
)
from gateway.audit.current_key import CurrentKey
from gateway.audit.model import SALT_BYTES, AuditEvent, AuditReceipt, Decision, entry_columns, entry_document
from gateway.audit.tree import DbTreeSource, completed_nodes
from gateway.audit.usage import stored_usage, trusted_usage, usage_columns, usage_mac
from gateway.errors import AuditUnavailable
from gateway.notifications.events import record_event
from gateway.notifications.kinds import EventKind
from gateway.principals.replay import SeenTokenInsert
from gateway.store.driver_statements import DriverStatement
from gateway.store.engine import apply_sqlite_pragmas
from gateway.store.tables import AuditEntry, AuditNode, OrderRow

__all__ = ["AuditWriter", "writer_engine"]

log = logging.getLogger("gateway.audit")

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_orders = OrderRow.__table__  # type: ignore[attr-defined]
# Built once: on this path building a statement costs more than the database takes to run it.
_INSERT_ENTRIES = insert(_entries)
_INSERT_NODES = insert(_nodes)
_LOAD_USAGE = select(*usage_columns()).where(_orders.c.id == bindparam("order_id"))
_CHARGE = (update(_orders).where(_orders.c.id == bindparam("order_id"))
           .values(queries_used=bindparam("used"), usage_index=bindparam("last"), usage_mac=bindparam("mac")))
_Edge = tuple[int, dict[tuple[int, int], bytes]]
"""A tree size and the right-edge nodes of the tree of that size."""
_MAX_BATCH = 512
_UNAVAILABLE = "the audit entry could not be made durable, so nothing was disclosed; retry later"


@dataclass
class _Pending:
    event: AuditEvent
    future: concurrent.futures.Future[AuditReceipt]


class _Stop:
    """The sentinel :meth:`AuditWriter.close` queues after the last event."""


_STOP = _Stop()


def writer_engine(url: str) -> Engine:
    """An engine for the writer alone. On SQLite every transaction starts with BEGIN IMMEDIATE, so
    the next index is read under the write lock that the commit releases, and every commit is an
    fsync of the WAL. On PostgreSQL a server or role configured with ``synchronous_commit=off``
    would acknowledge commits before they are on disk; the writer's sessions turn it back on."""
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_size=2, max_overflow=0, pool_pre_ping=True,
                               isolation_level="READ COMMITTED")

        @event.listens_for(engine, "connect")
        def _durable_commits(dbapi_connection: Any, _record: Any) -> None:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SHOW synchronous_commit")
                # Any other value (on, local, remote_write, remote_apply) flushes locally; keep the
                # stronger replication settings an operator chose.
                if cursor.fetchone()[0] == "off":
                    cursor.execute("SET synchronous_commit TO on")
            finally:
                cursor.close()
                dbapi_connection.autocommit = autocommit

        return engine

    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=2,
                           max_overflow=0)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        apply_sqlite_pragmas(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # On the driver's connection: through exec_driver_sql, SQLAlchemy's execution machinery
        # costs more than the statement, once per batch. A failure (the lock not granted within
        # busy_timeout) fails the batch, as any other, with AuditUnavailable.
        cursor = connection.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()

    return engine


def _describe(error: BaseException) -> str:
    """What failed, for the log: the error's type and the driver's first line, never SQLAlchemy's
    rendering, which quotes the statement's parameters (the entries themselves)."""
    original = getattr(error, "orig", None)
    if original is None:
        return type(error).__name__
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(error).__name__} ({type(original).__name__}: {first_line})"


def _settle(future: concurrent.futures.Future[AuditReceipt], result: AuditReceipt | BaseException) -> None:
    """Resolve ``future`` unless its caller already gave up on it (cancelled): the entry is written
    either way, and a cancelled future must not take the committer thread down with it."""
    try:
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


class AuditWriter:
    """Appends entries with group commit; ``group_commit=False`` commits each one alone (for
    measuring what group commit buys). ``batches`` and ``entries`` count what was committed."""

    def __init__(self, url: str, *, checkpoint_key: SigningKey | CurrentKey, origin: str, policy: CheckpointPolicy,
                 group_commit: bool = True, monotonic: Callable[[], float] = time.monotonic,
                 usage_key: bytes | None = None) -> None:
        self.engine = writer_engine(url)
        self._monotonic = monotonic  # the timed-checkpoint clock; a parameter so tests never wait on it
        self.dialect = self.engine.dialect.name
        self.usage_key = usage_key
        # The statements of every batch, on the driver's cursor (gateway/store/driver_statements.py);
        # the inserts are compiled for the columns their rows carry, on first use.
        dialect = self.engine.dialect
        self._log_size = DriverStatement(LOG_SIZE_STATEMENT, dialect)
        self._load_usage = DriverStatement(_LOAD_USAGE, dialect)
        self._charge_order = DriverStatement(_CHARGE, dialect)
        self._inserts: dict[tuple[int, tuple[str, ...]], DriverStatement] = {}
        self._seen_tokens = SeenTokenInsert(dialect)
        # The right edge of the tree after the last batch this writer committed, keyed by the size
        # it is the edge of: the next batch starts there unless another process appended meanwhile.
        self._edge: _Edge | None = None
        # Signs the checkpoints the writer stores: the process's key, which follows a rotation.
        self.signer = checkpoint_key if isinstance(checkpoint_key, CurrentKey) else CurrentKey(checkpoint_key,
                                                                                                 origin=origin)
        self.origin = origin
        self.policy = policy
        self.max_batch = _MAX_BATCH if group_commit else 1
        self._queue: queue.Queue[_Pending | _Stop] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.batches = 0
        self.entries = 0
        # Told (entries, seconds) after each commit, from the committer thread; metrics listen here.
        self.observer: Callable[[int, float], None] | None = None

    # -- public -----------------------------------------------------------------------------

    async def append(self, event: AuditEvent) -> AuditReceipt:
        """Make ``event`` durable; return its receipt. Raise :class:`AuditUnavailable` if the entry
        could not be committed, in which case nothing may be disclosed.

        Cancelling the awaiting task (a client gone, a server stopping) does not withdraw the
        entry: the request happened, so it is still written."""
        return await asyncio.shield(asyncio.wrap_future(self.submit(event)))

    def append_sync(self, event: AuditEvent) -> AuditReceipt:
        """:meth:`append` for threads: block until the entry is durable or raise ``AuditUnavailable``."""
        return self.submit(event).result()

    def submit(self, event: AuditEvent) -> concurrent.futures.Future[AuditReceipt]:
        """Queue ``event``; the future resolves to its receipt or fails with ``AuditUnavailable``."""
        future: concurrent.futures.Future[AuditReceipt] = concurrent.futures.Future()
        # Under the lock, so that nothing is queued behind close()'s sentinel and left waiting.
        with self._lock:
            if self._closed:
                future.set_exception(AuditUnavailable("the audit log is shutting down; retry shortly"))
                return future
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()
            self._queue.put(_Pending(event, future))
        return future

    def checkpoint_now(self) -> str | None:
        """Sign and store a checkpoint of the current tree if it has grown since the last one (also
        of the empty tree when there is none yet); return the latest checkpoint note."""
        with self.engine.begin() as connection:
            lock_log(connection)
            self.signer.checkpoint(connection, force=True)
            return latest_checkpoint(connection)

    def close(self) -> None:
        """Commit what is queued, checkpoint the tree if it grew, and stop. Appends after this
        fail with ``AuditUnavailable``. Idempotent."""
        with self._lock:
            already, self._closed = self._closed, True
            thread = self._thread
            if not already and thread is not None and thread.is_alive():
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout=60)
        # Only if the thread died or hung: fail what it left rather than leave requests waiting.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Pending):
                _settle(item.future, AuditUnavailable("the audit log is shutting down; retry shortly"))
        self.engine.dispose()

    # -- committer thread -------------------------------------------------------------------

    def _run(self) -> None:
        next_timed = self._monotonic() + self.policy.every_seconds
        while True:
            try:
                first: _Pending | _Stop | None = self._queue.get(timeout=max(0.0, next_timed - self._monotonic()))
            except queue.Empty:
                first = None
            stop = isinstance(first, _Stop)
            if isinstance(first, _Pending):
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(item, _Stop):
                        stop = True
                        break
                    batch.append(item)
                self._commit(batch)
            if stop:
                # The tail of the log gets a checkpoint now rather than never (no timer after this).
                self._checkpoint_if_grown()
                return
            if self._monotonic() >= next_timed:
                self._checkpoint_if_grown()
                next_timed = self._monotonic() + self.policy.every_seconds

    def _checkpoint_if_grown(self) -> None:
        try:
            with self.engine.begin() as connection:
                lock_log(connection)
                self.signer.checkpoint(connection, force=False)
        except Exception as exc:
            log.error("periodic audit checkpoint failed: %s", _describe(exc))

    def _record_tokens(self, connection: Connection, events: list[AuditEvent]) -> set[int]:
        """Record the batch's token jtis (docs/PROTOCOL.md §2); return the offsets of the events
        whose jti was used before, by an earlier batch, another process or an earlier event here."""
        replayed: set[int] = set()
        first: dict[tuple[str, str], tuple[int, int]] = {}
        for offset, item in enumerate(events):
            if item.consume_token is None:
                continue
            issuer, jti, keep_until = item.consume_token
            if (issuer, jti) in first:
                replayed.add(offset)
            else:
                first[(issuer, jti)] = (offset, keep_until)
        recorded = self._seen_tokens.recorded(
            connection, [(issuer, jti, keep_until) for (issuer, jti), (_, keep_until) in first.items()])
        replayed.update(offset for pair, (offset, _) in first.items() if pair not in recorded)
        return replayed

    def _insert(self, statement: Any, connection: Connection, rows: list[dict[str, object]]) -> None:
        if not rows:
            return
        key = (id(statement), tuple(rows[0]))
        if any(tuple(row) != key[1] for row in rows):  # one statement for all: each row must fill it alike
            raise ValueError("the rows of one insert must carry the same columns")
        compiled = self._inserts.get(key)
        if compiled is None:
            compiled = self._inserts[key] = DriverStatement(statement, self.engine.dialect, columns=key[1])
        compiled.many(connection, rows)

    def _charge(self, connection: Connection, order_id: str, max_queries: int, index: int,
                charges: dict[str, tuple[int, int]]) -> bool:
        """Count one query against ``order_id`` for the entry at ``index``, unless it is used up."""
        if order_id in charges:
            used = charges[order_id][0]
        else:
            found = self._load_usage.rows(connection, {"order_id": order_id})
            if not found:
                return False
            used = trusted_usage(connection, stored_usage(order_id, *found[0]), self.usage_key)
        if used >= max_queries:
            return False
        charges[order_id] = (used + 1, index)
        return True

    @staticmethod
    def _record_exhausted(connection: Connection, exhausted: dict[str, datetime]) -> None:
        """The ``order.exhausted`` event of each order this batch charged its last query, in the
        entries' own transaction (docs/PROTOCOL.md §17.4): rare, so read and written plainly."""
        for order_id, at in sorted(exhausted.items()):
            found = connection.execute(select(_orders.c.authority_id, _orders.c.request_id)
                                       .where(_orders.c.id == order_id)).first()
            if found is not None:
                record_event(connection, authority_id=found[0], kind=EventKind.ORDER_EXHAUSTED, request_id=found[1],
                             order_id=order_id, state="EXHAUSTED", now=at)

    def _commit(self, batch: list[_Pending]) -> None:
        """Write ``batch`` in one transaction and settle every future; never raises."""
        for pending in batch:
            # From here on the caller can no longer cancel (concurrent.futures semantics).
            pending.future.set_running_or_notify_cancel()
        try:
            receipts = self._transaction([p.event for p in batch])
        except (IntegrityError, DataError) as exc:
            if len(batch) == 1:
                log.error("the database refused an audit entry: %s", _describe(exc))
                _settle(batch[0].future, AuditUnavailable(_UNAVAILABLE))
                return
            # One event's values broke the batch (a duplicate request id, say): write each alone so
            # only that one fails. Its request gets 503; the others are unaffected.
            log.warning("audit batch of %d entries refused by the database; writing them one by one", len(batch))
            for pending in batch:
                self._commit_alone(pending)
            return
        except Exception as exc:
            # Never the event's contents in the log: _describe leaves out the statement's values.
            log.error("audit batch of %d entries could not be committed: %s", len(batch), _describe(exc))
            for pending in batch:
                _settle(pending.future, AuditUnavailable(_UNAVAILABLE))
            return
        for pending, receipt in zip(batch, receipts, strict=True):
            _settle(pending.future, receipt)

    def _commit_alone(self, pending: _Pending) -> None:
        try:
            (receipt,) = self._transaction([pending.event])
        except Exception as exc:
            log.error("an audit entry could not be committed: %s", _describe(exc))
            _settle(pending.future, AuditUnavailable(_UNAVAILABLE))
            return
        _settle(pending.future, receipt)

    def _transaction(self, events: list[AuditEvent]) -> list[AuditReceipt]:
        started = time.perf_counter()
        try:
            with self.engine.begin() as connection:
                receipts, edge = self._write(connection, events)
        except BaseException:
            self._edge = None  # what the failed batch computed never reached the database
            raise
        self._edge = edge  # only once committed
        if self.observer is not None:
            self.observer(len(events), time.perf_counter() - started)
        # Counted only once committed: tests compare batches with entries to see group commit work.
        self.batches += 1
        self.entries += len(events)
        return receipts

    def _write(self, connection: Connection, events: list[AuditEvent]) -> tuple[list[AuditReceipt], _Edge]:
        lock_log(connection)
        size = size_after(self._log_size.rows(connection)[0][0])
        rows: list[dict[str, object]] = []
        receipts: list[AuditReceipt] = []
        leaves: list[bytes] = []
        replayed = self._record_tokens(connection, events)
        charges: dict[str, tuple[int, int]] = {}  # order -> (queries used, index of the last charge)
        exhausted: dict[str, datetime] = {}  # order -> when its last query was used, in this batch
        salts = os.urandom(SALT_BYTES * len(events))  # one call for the batch: the OS CSPRNG, as secrets uses
        for offset, item in enumerate(events):
            decision, code = item.decision, item.code
            if offset in replayed and decision is not Decision.REFUSED:
                # Its jti was recorded by an earlier request, or by one before it in this batch.
                decision, code = Decision.REFUSED, "TOKEN_REPLAYED"
            if item.charge_order is not None and decision is Decision.DISCLOSED and not self._charge(
                    connection, item.charge_order, item.max_queries or 0, size + offset, charges):
                # Charged in this transaction, so the count and the entry commit together;
                # concurrent disclosures past max_queries become ORDER_EXHAUSTED here.
                decision, code = Decision.REFUSED, "ORDER_EXHAUSTED"
            elif item.charge_order is not None and decision is Decision.DISCLOSED \
                    and charges[item.charge_order][0] == item.max_queries:
                exhausted[item.charge_order] = item.time  # this disclosure used the order's last query
            index = size + offset
            document = entry_document(item, index, decision, code,
                                      salt=salts[offset * SALT_BYTES:(offset + 1) * SALT_BYTES])
            if decision is not item.decision:
                document["disclosure_sha256"] = None  # nothing is sent, so nothing was disclosed
            entry = canonical_json(document)
            digest = leaf_hash(entry)
            leaves.append(digest)
            rows.append({"idx": index, "entry": entry.decode("utf-8"), "leaf_hash": digest}
                        | entry_columns(document))
            receipts.append(AuditReceipt(item.request_id, index, b64encode(digest), decision, code))
        for order_id, (used, last) in charges.items():
            mac = None if self.usage_key is None else usage_mac(self.usage_key, order_id, used, last)
            self._charge_order.rows(connection, {"order_id": order_id, "used": used,
                                                 "last": None if mac is None else last, "mac": mac})
        self._record_exhausted(connection, exhausted)
        self._insert(_INSERT_ENTRIES, connection, rows)
        source = DbTreeSource(connection)
        if self._edge is not None and self._edge[0] == size:
            source.remember(self._edge[1])
        nodes = completed_nodes(source, size, leaves)
        self._insert(_INSERT_NODES, connection, nodes)
        new_size = size + len(events)
        if new_size // self.policy.every_entries > size // self.policy.every_entries:
            # A key the log's record has retired signs nothing (and fails nothing): the batch commits.
            self.signer.checkpoint(connection, force=False, size=new_size)
        return receipts, (new_size, source.edge(new_size))
