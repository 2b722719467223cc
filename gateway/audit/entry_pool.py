"""Ranges of entries checked (:func:`gateway.audit.entry_checks.check_range`) in order, in this
process or spread over worker processes.

Checking an entry (a strict parse, a canonical re-encoding, its hash and indexed copies) is most
of what `gateway audit verify` spends, and it needs nothing from the entries before it; the tree
does, and stays with the caller. Processes, not threads: the checks are Python and hold the GIL.
Each worker opens its own connection from the database URL (a connection cannot cross a process);
an in-memory SQLite database has no URL another process could open, so it is checked here.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from sqlalchemy import Connection, Engine, create_engine

from gateway.audit.entry_checks import EntryBatch, check_range

__all__ = ["entry_batches", "usable_cpus"]

# Futures queued ahead per worker: enough that none waits while the caller folds a batch into the
# tree, few enough that a failure early in the log leaves little work to throw away.
_AHEAD = 3

_worker_engine: Engine | None = None


def _open(url: str) -> None:
    global _worker_engine
    _worker_engine = create_engine(url)
    # What the import left is kept out of the collector's passes: each batch makes some hundred
    # thousand short-lived objects, and every pass over the long-lived ones cost a third of a check.
    gc.freeze()


def _check(first: int, end: int) -> EntryBatch:
    assert _worker_engine is not None, "the pool's initializer opens the engine"
    with _worker_engine.connect() as connection:
        return check_range(connection, first, end)


def usable_cpus() -> int:
    """The CPUs this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _ranges(first: int, upper: int, chunk: int) -> Iterator[tuple[int, int]]:
    for start in range(first, upper, chunk):
        yield start, min(start + chunk, upper)


def _shareable_url(connection: Connection) -> str | None:
    url = connection.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


def entry_batches(connection: Connection, upper: int, *, chunk: int, jobs: int) -> Generator[EntryBatch, None, None]:
    """The checked ranges ``[0, chunk)``, ``[chunk, 2 chunk)`` … up to ``upper``, in order.

    With ``jobs`` above 1 and more than one range, ``jobs`` worker processes check them ahead of
    the caller; otherwise each is checked on ``connection`` when the caller asks for it. Closing the
    iterator early (the caller found a failure) cancels what was queued."""
    url = _shareable_url(connection) if jobs > 1 and upper > chunk else None
    if url is None:
        for first, end in _ranges(0, upper, chunk):
            yield check_range(connection, first, end)
        return
    # spawn, not fork: the caller's process holds open connections and a writer thread, which a
    # forked child would inherit half-way through whatever they were doing.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_open, initargs=(url,)) as pool:
        queued: deque[Future[EntryBatch]] = deque()
        ranges = _ranges(0, upper, chunk)
        try:
            for first, end in ranges:
                queued.append(pool.submit(_check, first, end))
                if len(queued) >= jobs * _AHEAD:
                    break
            while queued:
                batch = queued.popleft().result()
                following = next(ranges, None)
                if following is not None:
                    queued.append(pool.submit(_check, *following))
                yield batch
        finally:
            for future in queued:
                future.cancel()
