"""Prometheus metrics of one gateway process, served at /metrics.

One registry per app (not the library's global one), so several apps in one process, as in
tests, keep their figures apart. With ``--workers N`` each worker counts its own requests.

The figures carry no account data: the labels are an HTTP status, an error code, an ingest
result and an operation name, never an account, key, flow or integration, so /metrics is open
by default (as Prometheus expects) and needs ``GATEWAY_METRICS_TOKEN`` only where the
process's traffic itself is not to be public. Operation names are the clients' own: only
well-formed ones, and at most ``MAX_OPERATION_NAMES`` of them per process, become label values
(the rest are ``other``), so a client cannot grow the figures without bound.

Other parts of the process add figures of their own with ``Metrics.gauge`` (a value read at
each scrape) or by creating metrics in ``Metrics.registry``.
"""

from __future__ import annotations

import hmac
import re
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from gateway.http.access_log import RequestRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST

MAX_OPERATION_NAMES = 200
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class EventRate:
    """Events per second over the last ``window`` whole seconds (for a gauge)."""

    def __init__(self, window: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._seconds: deque[list[int]] = deque()  # [second, count], oldest first

    def add(self, n: int) -> None:
        second = int(self.clock())
        if self._seconds and self._seconds[-1][0] == second:
            self._seconds[-1][1] += n
        else:
            self._seconds.append([second, n])
        self._trim(second)

    def per_second(self) -> float:
        now = int(self.clock())
        self._trim(now)
        return sum(n for second, n in self._seconds if second < now) / self.window

    def _trim(self, now: int) -> None:
        while self._seconds and self._seconds[0][0] < now - self.window:
            self._seconds.popleft()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gateway_graphql_requests",
            "GraphQL HTTP requests, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_graphql_request_seconds",
            "Time to answer a GraphQL HTTP request.",
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.operation_latency = Histogram(
            "gateway_graphql_operation_seconds",
            "Time to answer a GraphQL HTTP request, by operation name (anonymous: none).",
            ["operation"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.errors = Counter(
            "gateway_graphql_errors",
            "Errors sent to clients (HTTP and WebSocket), by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        self.statements = Histogram(
            "gateway_graphql_sql_statements",
            "SQL statements run for one GraphQL HTTP request.",
            buckets=(0, 1, 2, 3, 5, 8, 13, 20, 50, 100, 200),
            registry=self.registry,
        )
        self.ingest_events = Counter(
            "gateway_ingest_events",
            "Engine events received by ingestEvents, by result.",
            ["result"],
            registry=self.registry,
        )
        self.ingest_rate = EventRate()
        self.gauge(
            "gateway_ingest_events_per_second",
            "Engine events received per second, over the last 10 s.",
            self.ingest_rate.per_second,
        )
        self.broker_lag = Histogram(
            "gateway_broker_lag_seconds",
            "From another process's publish to its changes' arrival here (Redis broker).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.notification_attempts = Counter(
            "gateway_notification_deliveries",
            "Webhook delivery attempts, by result (delivered, failed, gone: a 410).",
            ["result"],
            registry=self.registry,
        )
        self._operations: set[str] = set()

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> Gauge:
        """A figure read at each scrape, e.g. ``metrics.gauge("gateway_x", "X.", len_of_x)``."""
        gauge = Gauge(name, documentation, registry=self.registry)
        gauge.set_function(read)
        return gauge

    def operation_label(self, name: str | None) -> str:
        if name is None:
            return "anonymous"
        if name in self._operations:
            return name
        if _OPERATION_NAME.fullmatch(name) and len(self._operations) < MAX_OPERATION_NAMES:
            self._operations.add(name)
            return name
        return "other"

    def observe_request(self, status: int, seconds: float) -> None:
        self.requests.labels(status=str(status)).inc()
        self.latency.observe(seconds)

    def observe_graphql(
        self, record: RequestRecord, status: int, seconds: float, statements: int
    ) -> None:
        self.observe_request(status, seconds)
        self.operation_latency.labels(operation=self.operation_label(record.operation)).observe(
            seconds
        )
        self.statements.observe(statements)
        self.count_errors(record.codes)

    def count_errors(self, codes: list[str]) -> None:
        for code in codes:
            self.errors.labels(code=code).inc()

    def count_ingest(self, accepted: int, duplicates: int, rejected: int) -> None:
        self.ingest_rate.add(accepted + duplicates + rejected)
        for result, n in (
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ):
            if n:
                self.ingest_events.labels(result=result).inc(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def scrape_allowed(authorization: str | None, token: str | None) -> bool:
    """Whether a scrape with this ``Authorization`` header may read the figures.

    Without a token (unset or empty) anyone may; with one, only ``Bearer <token>``, compared
    in constant time.
    """
    if not token:
        return True
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )
