"""Prometheus metrics (``prometheus_client``): ``GET /metrics`` on the main port when
``GATEWAY_METRICS=true``, or on a port of its own with ``GATEWAY_METRICS_PORT``.

Labels are bounded and say nothing about anyone: the root operation is a field name of the schema
(or ``none`` before one was parsed, ``multiple`` for several), the code a docs/PROTOCOL.md §6 code
(or ``OK``). No subject value, principal, order id or client address is ever a label or a value.

Each gateway process has its own registry: with several workers on one port, a scrape sees the
worker that answered it. Gauges of shared state (orders, checkpoint age, replay store) read the
database at scrape time and so agree across workers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from gateway.store.tables import AuditCheckpoint, SeenToken

__all__ = ["CONTENT_TYPE", "GatewayMetrics", "start_metrics_server"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_ORDERS_CACHE_S: Final = 30.0  # computing every order's status re-verifies its approvals
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_seen = SeenToken.__table__  # type: ignore[attr-defined]


class _SharedState(Collector):
    """Gauges read from the database when scraped."""

    def __init__(self, connect: Callable[[], object], order_statuses: Callable[[], Iterable[str]],
                 clock: Callable[[], datetime]) -> None:
        self._connect = connect
        self._order_statuses = order_statuses
        self._clock = clock
        self._lock = threading.Lock()
        self._orders: tuple[float, Tally[str]] | None = None

    def describe(self) -> Iterable[Metric]:
        # Without this, registering would collect, reading the database (and caching no orders).
        yield GaugeMetricFamily("gateway_checkpoint_age_seconds", "")
        yield GaugeMetricFamily("gateway_replay_store_tokens", "")
        yield GaugeMetricFamily("gateway_orders", "", labels=["status"])

    def collect(self) -> Iterable[Metric]:
        with self._connect() as connection:  # type: ignore[attr-defined]
            latest = connection.execute(select(func.max(_checkpoints.c.created_at))).scalar_one_or_none()
            seen = connection.execute(select(func.count()).select_from(_seen)).scalar_one()
        age = GaugeMetricFamily("gateway_checkpoint_age_seconds",
                                "seconds since the latest signed checkpoint (absent before the first)")
        if latest is not None:
            age.add_metric([], max(0.0, self._clock().timestamp() - float(latest)))
        yield age
        yield GaugeMetricFamily("gateway_replay_store_tokens", "token ids held to refuse replays", value=float(seen))
        orders = GaugeMetricFamily("gateway_orders", "orders by computed status", labels=["status"])
        for status, count in sorted(self._order_tally().items()):
            orders.add_metric([status], float(count))
        yield orders

    def _order_tally(self) -> Tally[str]:
        with self._lock:
            now = time.monotonic()
            if self._orders is None or now - self._orders[0] > _ORDERS_CACHE_S:
                self._orders = (now, Tally(self._order_statuses()))
            return self._orders[1]


class GatewayMetrics:
    """The gateway's metrics in a registry of its own (so several apps in one test process do not
    collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("gateway_requests", "GraphQL requests by root operation and §6 code",
                                ["operation", "code"], registry=self.registry)
        self.latency = Histogram("gateway_request_duration_seconds", "GraphQL request latency by root operation",
                                 ["operation"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.batch_size = Histogram("gateway_audit_batch_entries", "entries per audit commit (group commit)",
                                    registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.commit_latency = Histogram("gateway_audit_commit_seconds", "audit batch commit latency",
                                        registry=self.registry,
                                        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self._shared: _SharedState | None = None

    def watch(self, connect: Callable[[], object], order_statuses: Callable[[], Iterable[str]],
              clock: Callable[[], datetime]) -> None:
        """Report the database's shared state, read through ``connect`` at each scrape."""
        self._shared = _SharedState(connect, order_statuses, clock)
        self.registry.register(self._shared)

    def request(self, operation: str, code: str, seconds: float) -> None:
        self.requests.labels(operation=operation, code=code).inc()
        self.latency.labels(operation=operation).observe(seconds)

    def audit_commit(self, entries: int, seconds: float) -> None:
        self.batch_size.observe(entries)
        self.commit_latency.observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


def start_metrics_server(metrics: GatewayMetrics, host: str, port: int) -> WSGIServer:
    """Serve ``metrics`` at ``http://host:port/metrics`` from a daemon thread; the caller shuts it down.
    One process only: a second worker could not bind the same port (``gateway serve`` refuses
    ``--workers`` > 1 with ``GATEWAY_METRICS_PORT``)."""
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    return server
