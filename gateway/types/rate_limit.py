"""``Query.rateLimit``: what this operation cost and what the key has left (GitHub's shape)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from gateway.types.scalars import DateTime


@strawberry.type(description="The API key's rate limit, after this operation was charged.")
class RateLimit:
    cost: int = strawberry.field(
        description="Points this operation cost: its worst-case node count per 100, rounded,"
        " at least 1."
    )
    limit: int = strawberry.field(description="Points the key may spend in an hour.")
    node_count: int = strawberry.field(description="The most nodes this operation may return.")
    remaining: int = strawberry.field(description="Points left now.")
    used: int = strawberry.field(description="Points spent: limit - remaining.")
    reset_at: DateTime = strawberry.field(
        description="When the budget is whole again (it refills continuously)."
    )


@strawberry.type
class RateLimitQueries:
    @strawberry.field(
        description="Null when the operation was not charged: rate limits are off, or the"
        " Redis that shares them cannot be reached."
    )
    def rate_limit(self, info: strawberry.Info) -> RateLimit | None:
        charge = info.context.rate_limit
        if charge is None:
            return None
        return RateLimit(
            cost=charge.cost,
            limit=charge.limit,
            node_count=charge.node_count,
            remaining=charge.remaining,
            used=charge.used,
            reset_at=DateTime(datetime.fromtimestamp(charge.reset_at, UTC)),
        )
