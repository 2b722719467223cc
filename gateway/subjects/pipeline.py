"""An ingestion's per-line work (parsing, normalising, sealing) in worker processes while the main
process writes the batches before.

Why processes: an ``upsert`` line costs about three times as much to parse (phonenumbers most of
all) and seal (four AEAD values) as to write, all of it Python under one interpreter lock, so one
process tops out well below the 10,000 subjects/s of issue 29. Batches go to the workers in turn
and come back in the order they were read, so every refusal is still reported by line number, in
order, and the main process alone touches the database.

Why fork: a forked worker starts at once with every module and the vault already in memory (a
spawned one imports the gateway again, about a second, which a short ingestion would pay whole), and
the keys never cross a pipe. A worker uses nothing else it inherits (no database connection, stream
or lock): it reads a batch from its pipe, sends back the answer, and ends when the pipe closes.
Each worker has at most one batch in hand, and the main process sends the next only after taking
the answer, so no pipe is written by both ends at once (a deadlock with batches larger than the
pipe's buffer) and memory is bounded by a few batches whatever the input's length.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any, Final, Generic, TypeVar

from gateway.errors import WorkerFailed

__all__ = ["MAX_WORKERS", "Workers", "default_workers"]

MAX_WORKERS: Final = 2
"""Two keep an upsert's processes under 300 MB resident together (each worker about 75 MB, most of
it the inherited modules, shared), and with them the main process's writing is near the bound."""

P = TypeVar("P")
R = TypeVar("R")
B = TypeVar("B")


def default_workers() -> int:
    """How many workers an ingestion starts here: none on one CPU, where they would only share it."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cpus < 2 else min(cpus, MAX_WORKERS)


def _serve(connection: Connection, work: Callable[[Any], Any], inherited: list[Connection]) -> None:
    """A worker's life: answer batches until the pipe closes, then end at once (``os._exit``: no
    inherited stream is flushed, no exit handler of the main process runs here). ``inherited`` are
    the main process's ends of the pipes made so far, this one's included: open here, they would
    keep a pipe open after the main process closed it, and its worker would never see the end."""
    for end in inherited:
        end.close()
    # Ctrl-C reaches the whole process group: the main process handles it and closes the pipes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while True:
            payload = connection.recv()
            try:
                answer: tuple[bool, Any] = (True, work(payload))
            except Exception as exc:  # sent back and raised there; a worker writes to no stream
                answer = (False, type(exc).__name__)
            connection.send(answer)
    except (EOFError, OSError):  # the main process closed the pipe: done, or stopped early
        pass
    os._exit(0)


_BUFFER: Final = 4 << 20


def _pipe() -> tuple[Connection, Connection]:
    """A duplex pipe (a socket pair, as multiprocessing's) with buffers that hold a whole batch
    (the kernel caps them at net.core.[rw]mem_max): with the default 208 KiB a batch's megabyte
    crossed in pieces, each a wait for the other process to be scheduled, which on a busy machine
    cost more than the batch's parsing."""
    ends = socket.socketpair()
    for end in ends:
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _BUFFER)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
    return Connection(ends[0].detach()), Connection(ends[1].detach())


class Workers(Generic[P, R]):
    """``count`` forked processes that each apply ``work`` (a module-level function, inherited
    by the fork) to payloads; :meth:`map` keeps the input's order. A context manager: the workers
    end when it exits."""

    def __init__(self, count: int, work: Callable[[P], R]) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        context = multiprocessing.get_context("fork")
        self._connections: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        # Objects that exist now are left out of the workers' collections, which would otherwise
        # write to (and so copy) every page of the inherited heap. A caller that froze its heap
        # already (the CLI) keeps it frozen; otherwise this process's heap thaws once they are started.
        thaw = gc.get_freeze_count() == 0
        gc.freeze()
        try:
            for _ in range(count):
                mine, theirs = _pipe()
                self._connections.append(mine)
                process = context.Process(target=_serve, args=(theirs, work, list(self._connections)),
                                          daemon=True, name="gateway-ingestion-worker")
                process.start()
                theirs.close()
                self._processes.append(process)
        except BaseException:
            self.close()
            raise
        finally:
            if thaw:
                gc.unfreeze()

    def __enter__(self) -> Workers[P, R]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def map(self, items: Iterable[B], payload: Callable[[B], P]) -> Iterator[tuple[B, R]]:
        """Each of ``items`` with ``work(payload(item))``, in order; at most one item per worker
        in hand, the next read from ``items`` only when a worker is free."""
        source = iter(items)
        pending: deque[tuple[Connection, B]] = deque()

        def give(connection: Connection) -> None:
            for item in source:
                connection.send(payload(item))
                pending.append((connection, item))
                return

        for connection in self._connections:
            give(connection)
        while pending:
            connection, item = pending.popleft()
            try:
                ok, answer = connection.recv()
            except EOFError:
                raise WorkerFailed("an ingestion worker ended") from None
            if not ok:
                raise WorkerFailed(f"an ingestion worker failed: {answer}")
            give(connection)  # before the caller writes this answer, so that the worker is busy meanwhile
            yield item, answer

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        self._connections.clear()
        self._processes.clear()
