"""Prometheus metrics of one gateway process, served at /metrics.

One registry per app (not the library's global one), so several apps in one process, as in
tests, keep their figures apart. With ``--workers N`` each worker counts its own requests.

The figures carry no account data: the only labels are an HTTP status and an ingest result,
never an account, key, flow or integration, so /metrics is open by default (as Prometheus
expects) and needs ``GATEWAY_METRICS_TOKEN`` only where the process's traffic volume itself is
not to be public.
"""

from __future__ import annotations

import hmac

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


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
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.ingest_events = Counter(
            "gateway_ingest_events",
            "Engine events received by ingestEvents, by result.",
            ["result"],
            registry=self.registry,
        )

    def observe_request(self, status: int, seconds: float) -> None:
        self.requests.labels(status=str(status)).inc()
        self.latency.observe(seconds)

    def count_ingest(self, accepted: int, duplicates: int, rejected: int) -> None:
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
