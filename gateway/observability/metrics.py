"""Prometheus metrics (``prometheus_client``): ``GET /metrics`` on the main port when
``GATEWAY_METRICS=true``, or on a port of its own with ``GATEWAY_METRICS_PORT``.

Labels are bounded and say nothing about anyone: the root operation is a field name of the schema
(or ``none`` before one was parsed, ``multiple`` for several), the code a docs/PROTOCOL.md §6 code
(or ``OK``). No subject value, principal, order id or client address is ever a label or a value.

Every name is under ``disclosure_gateway_`` (:data:`PREFIX`), apart from the standard ``process_*``
metrics of the process (or, with several workers, of each worker, labelled ``pid``).

Several workers (``gateway serve --workers N``) use prometheus_client's multiprocess mode: ``gateway
serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh private directory before the workers start,
each worker's counters and histograms live in files there, and a scrape, whichever worker answers
it, sums them across every worker (a dead worker's counts stay, so counters never go back). Gauges
of shared state (orders, checkpoint age, replay store, witness lag) read the database at scrape
time and so agree across workers.
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
    start_http_server,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from gateway.store.tables import AuditCheckpoint, AuditCosignature, SeenToken

__all__ = ["CONTENT_TYPE", "PREFIX", "GatewayMetrics", "multiprocess_directory", "start_metrics_server"]

PREFIX: Final = "disclosure_gateway_"

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_ORDERS_CACHE_S: Final = 30.0  # computing every order's status re-verifies its approvals
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_seen = SeenToken.__table__  # type: ignore[attr-defined]
_cosignatures = AuditCosignature.__table__  # type: ignore[attr-defined]
_WORKER_FILES: Final = "gauge_livesum_*.db"
"""The files of the ``workers`` gauge (mode ``livesum``): one per live worker, named by its pid."""


def multiprocess_directory() -> str | None:
    """The multiprocess directory when this process writes its metrics there, else None. The
    value class is chosen when prometheus_client is first imported, so the environment variable
    alone does not decide: a process that imported it before the variable was set counts in memory."""
    if values.ValueClass is values.MutexValue:
        return None
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class _SharedState(Collector):
    """Gauges read from the database when scraped."""

    def __init__(self, connect: Callable[[], object], order_statuses: Callable[[], Iterable[str]],
                 clock: Callable[[], datetime], witnesses: Iterable[str]) -> None:
        self._connect = connect
        self._witnesses = frozenset(witnesses)
        self._order_statuses = order_statuses
        self._clock = clock
        self._lock = threading.Lock()
        self._orders: tuple[float, Tally[str]] | None = None

    def describe(self) -> Iterable[Metric]:
        # Without this, registering would collect, reading the database (and caching no orders).
        yield GaugeMetricFamily(f"{PREFIX}checkpoint_age_seconds", "")
        yield GaugeMetricFamily(f"{PREFIX}replay_store_tokens", "")
        yield GaugeMetricFamily(f"{PREFIX}orders", "", labels=["status"])
        yield GaugeMetricFamily(f"{PREFIX}witness_lag_entries", "", labels=["witness"])

    def collect(self) -> Iterable[Metric]:
        with self._connect() as connection:  # type: ignore[attr-defined]
            latest, size = connection.execute(
                select(func.max(_checkpoints.c.created_at), func.max(_checkpoints.c.tree_size))).one()
            seen = connection.execute(select(func.count()).select_from(_seen)).scalar_one()
            cosigned = connection.execute(select(_cosignatures.c.witness, func.max(_cosignatures.c.tree_size))
                                          .group_by(_cosignatures.c.witness)).all()
        age = GaugeMetricFamily(f"{PREFIX}checkpoint_age_seconds",
                                "seconds since the latest signed checkpoint (absent before the first)")
        if latest is not None:
            age.add_metric([], max(0.0, self._clock().timestamp() - float(latest)))
        yield age
        yield GaugeMetricFamily(f"{PREFIX}replay_store_tokens", "token ids held to refuse replays", value=float(seen))
        # The witness label is the name in its configured verifier key: the operator's, about no one.
        lag = GaugeMetricFamily(f"{PREFIX}witness_lag_entries",
                                "entries of the latest checkpoint past the largest one the witness cosigned",
                                labels=["witness"])
        # A configured witness that never cosigned lags by the whole log: the alert must see it too.
        largest = {w: 0 for w in self._witnesses} | {str(w): int(n) for w, n in cosigned}
        for witness, cosigned_size in sorted(largest.items()):
            lag.add_metric([witness], float(max(0, int(size or 0) - cosigned_size)))
        yield lag
        orders = GaugeMetricFamily(f"{PREFIX}orders", "orders by computed status", labels=["status"])
        for status, count in sorted(self._order_tally().items()):
            orders.add_metric([status], float(count))
        yield orders

    def _order_tally(self) -> Tally[str]:
        with self._lock:
            now = time.monotonic()
            if self._orders is None or now - self._orders[0] > _ORDERS_CACHE_S:
                self._orders = (now, Tally(self._order_statuses()))
            return self._orders[1]


class _BuildInfo(Collector):
    """``disclosure_gateway_build_info{version}`` 1: the same in every worker, so not one per process."""

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(f"{PREFIX}build_info", "the running gateway's version", labels=["version"])
        info.add_metric([_version()], 1.0)
        yield info


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("disclosure-gateway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _WorkerProcesses(Collector):
    """``process_*`` of every live worker, labelled ``pid`` (multiprocess mode, where the standard
    process collector would report only the worker that answers the scrape). The live workers are
    those with a ``workers`` gauge file; a dead one's file is removed here (``mark_process_dead``),
    as no hook of uvicorn's tells the workers when a sibling died."""

    def __init__(self, directory: str) -> None:
        self._directory = directory

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for pid in self._live_pids():
            for family in ProcessCollector(pid=_constant(pid), registry=None).collect():
                into = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                for sample in family.samples:
                    into.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from merged.values()

    def _live_pids(self) -> list[int]:
        pids: list[int] = []
        for path in glob.glob(os.path.join(self._directory, _WORKER_FILES)):
            pid_text = os.path.basename(path).removesuffix(".db").rsplit("_", 1)[-1]
            if not pid_text.isdigit():
                continue
            pid = int(pid_text)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                multiprocess.mark_process_dead(pid, self._directory)  # type: ignore[no-untyped-call]
                continue
            except PermissionError:  # alive, someone else's: not a worker of this gateway
                continue
            pids.append(pid)
        return sorted(pids)


def _constant(pid: int) -> Callable[[], int]:
    return lambda: pid


class GatewayMetrics:
    """The gateway's metrics in a registry of its own (so several apps in one test process do not
    collide). In multiprocess mode the values live in the shared directory and a scrape reads
    them all from there (:meth:`exposition`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._directory = multiprocess_directory()
        self.requests = Counter(f"{PREFIX}requests", "GraphQL requests by root operation and §6 code",
                                ["operation", "code"], registry=self.registry)
        self.latency = Histogram(f"{PREFIX}request_duration_seconds", "GraphQL request latency by root operation",
                                 ["operation"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.batch_size = Histogram(f"{PREFIX}audit_batch_entries", "entries per audit commit (group commit)",
                                    registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.commit_latency = Histogram(f"{PREFIX}audit_commit_seconds", "audit batch commit latency",
                                        registry=self.registry,
                                        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        # One per live worker (livesum): how many workers count, and which pids have process metrics.
        self.workers = Gauge(f"{PREFIX}workers", "worker processes serving", registry=self.registry,
                             multiprocess_mode="livesum")
        self.workers.set(1)
        self._shared: _SharedState | None = None
        self._build = _BuildInfo()
        self.registry.register(self._build)
        if self._directory is None:
            ProcessCollector(registry=self.registry)

    def watch(self, connect: Callable[[], object], order_statuses: Callable[[], Iterable[str]],
              clock: Callable[[], datetime], witnesses: Iterable[str] = ()) -> None:
        """Report the database's shared state, read through ``connect`` at each scrape; ``witnesses``
        are the configured witnesses' names, each with a lag even before its first cosignature."""
        self._shared = _SharedState(connect, order_statuses, clock, witnesses)
        self.registry.register(self._shared)

    def request(self, operation: str, code: str, seconds: float) -> None:
        self.requests.labels(operation=operation, code=code).inc()
        self.latency.labels(operation=operation).observe(seconds)

    def audit_commit(self, entries: int, seconds: float) -> None:
        self.batch_size.observe(entries)
        self.commit_latency.observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric: in multiprocess mode, every worker's, from a
        registry made for this scrape (as prometheus_client's multiprocess documentation asks)."""
        if self._directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry(support_collectors_without_names=True)
        multiprocess.MultiProcessCollector(registry, path=self._directory)  # type: ignore[no-untyped-call]
        registry.register(_WorkerProcesses(self._directory))
        registry.register(self._build)
        if self._shared is not None:
            registry.register(self._shared)
        return generate_latest(registry)


def start_metrics_server(metrics: GatewayMetrics, host: str, port: int) -> WSGIServer:
    """Serve ``metrics`` at ``http://host:port/metrics`` from a daemon thread; the caller shuts it down.
    One process only: a second worker could not bind the same port (``gateway serve`` refuses
    ``--workers`` > 1 with ``GATEWAY_METRICS_PORT``)."""
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    return server
