"""Rate limits per API key, by what an operation costs (GitHub's model).

An operation's cost is known before it runs, from the node count the query limits compute
(``gateway.http.limits.measure_operation``, payload bodies weighted): one point per
``NODES_PER_POINT`` nodes, rounded, at least one. Two buckets of the key pay for it: the
hourly budget (``GATEWAY_RATE_LIMIT_POINTS_PER_HOUR``, or the key's own ``--points-per-hour``)
and a per-minute ceiling (``GATEWAY_RATE_LIMIT_POINTS_PER_MINUTE``), so a key cannot spend its
hour in one burst. ``ingestEvents`` is limited apart, by events per second
(``GATEWAY_RATE_LIMIT_INGEST_EVENTS_PER_SECOND``, a bucket of ``INGEST_BURST_SECONDS`` of them,
at least one full batch): the engine's steady stream never competes with queries.

Buckets refill continuously, so "reset" is the moment the hourly bucket would be full again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from graphql import GraphQLError

from gateway.auth.keys import Principal
from gateway.config import Settings
from gateway.http.limits import Measure
from gateway.limits import INGEST_BURST_SECONDS, MAX_INGEST_BATCH, NODES_PER_POINT
from gateway.ratelimit.buckets import Bucket, BucketStore, MemoryBuckets, RedisBuckets

GRAPHQL = "graphql"
INGEST = "ingest"


def points(nodes: int) -> int:
    """An operation's cost in points: its node count per NODES_PER_POINT, rounded, at least 1."""
    return max(1, (nodes + NODES_PER_POINT // 2) // NODES_PER_POINT)


@dataclass(frozen=True, slots=True)
class Charge:
    """What one operation was charged, and what its key has left (the primary bucket)."""

    resource: str  # GRAPHQL (points) or INGEST (events)
    cost: int
    node_count: int
    limit: int
    remaining: int
    reset_at: float  # Unix seconds: when the bucket is full again
    allowed: bool
    # Seconds until the refused operation would pass; for one dearer than a whole bucket
    # (``never``), until the buckets are whole again.
    retry_after: float
    never: bool = False
    # Which limit refused it, for the message: "hour", "minute" or "second".
    refused_by: str | None = None

    @property
    def used(self) -> int:
        return self.limit - self.remaining

    def headers(self) -> dict[str, str]:
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(math.ceil(self.reset_at)),
            "x-ratelimit-resource": self.resource,
        }
        if not self.allowed:
            headers["retry-after"] = str(self.retry_seconds)
        return headers

    @property
    def retry_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after))

    def error(self) -> GraphQLError:
        unit = "event" if self.resource == INGEST else "point"
        amount = f"{self.cost} {unit}{'' if self.cost == 1 else 's'}"
        if self.never:
            message = (
                f"This operation costs {amount}, more than this API key may spend"
                f" per {self.refused_by}; ask for less (smaller pages, fewer nested lists or"
                " payload bodies, smaller batches)."
            )
        else:
            message = (
                f"This API key's rate limit per {self.refused_by} is used up: this operation"
                f" costs {amount}; retry in {self.retry_seconds} s."
            )
        return GraphQLError(
            message,
            extensions={
                "code": "RATE_LIMITED",
                "cost": self.cost,
                "retryAfter": self.retry_seconds,
            },
        )


def _until_whole(buckets: list[Bucket], tokens: tuple[float, ...]) -> float:
    return max((b.capacity - t) / b.rate for b, t in zip(buckets, tokens, strict=True))


class RateLimiter:
    def __init__(self, settings: Settings, store: BucketStore) -> None:
        self.settings = settings
        self.store = store

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        if not settings.rate_limits:
            return None
        store: BucketStore = (
            RedisBuckets(settings.redis_url) if settings.redis_url else MemoryBuckets()
        )
        return cls(settings, store)

    def _buckets(self, principal: Principal, measure: Measure) -> tuple[str, list[Bucket]]:
        key, settings = principal.key_id, self.settings
        if measure.events is not None:
            rate = settings.rate_limit_ingest_events_per_second
            capacity = max(rate * INGEST_BURST_SECONDS, MAX_INGEST_BATCH)
            return INGEST, [Bucket(f"{{{key}}}:events", capacity, rate)]
        hourly = principal.points_per_hour or settings.rate_limit_points_per_hour
        minute = settings.rate_limit_points_per_minute
        return GRAPHQL, [
            Bucket(f"{{{key}}}:hour", hourly, hourly / 3600),
            Bucket(f"{{{key}}}:minute", minute, minute / 60),
        ]

    async def charge(self, principal: Principal, measure: Measure) -> Charge | None:
        """Takes the operation's cost from its key's buckets; None when nothing could be
        charged (the shared buckets are unreachable: the operation is not limited)."""
        resource, buckets = self._buckets(principal, measure)
        cost = max(1, measure.events or 0) if resource == INGEST else points(measure.nodes)
        taken = await self.store.take(buckets, cost)
        if taken is None:
            return None
        primary, level = buckets[0], taken.tokens[0]
        refused_by, wait = None, 0.0
        if not taken.allowed:
            wait = taken.wait(buckets, cost)
            names = ("second",) if resource == INGEST else ("hour", "minute")
            refused_by = next(
                (
                    name
                    for name, bucket, tokens in zip(names, buckets, taken.tokens, strict=True)
                    if tokens < cost or cost > bucket.capacity
                ),
                names[0],
            )
        return Charge(
            resource=resource,
            cost=cost,
            node_count=measure.nodes,
            limit=int(primary.capacity),
            remaining=max(0, math.floor(level)),
            reset_at=taken.now + (primary.capacity - level) / primary.rate,
            allowed=taken.allowed,
            retry_after=wait if math.isfinite(wait) else _until_whole(buckets, taken.tokens),
            never=not math.isfinite(wait),
            refused_by=refused_by,
        )

    async def close(self) -> None:
        await self.store.close()
