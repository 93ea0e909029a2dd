"""Flow statistics: counts from the integrations, rolling figures from hourly buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.context import Context
from gateway.db import reads
from gateway.errors import BadUserInput

MAX_TIMELINE_HOURS = 24 * 31


@dataclass(frozen=True, slots=True)
class FlowSummary:
    integration_count: int
    status_counts: list[tuple[str, int]]
    failing_count: int
    runs_last_24h: int
    failed_runs_last_24h: int


def _window_start(hours: int) -> datetime:
    return reads.hour_floor(datetime.now(UTC)) - (hours - 1) * reads.HOUR


async def summary(ctx: Context, flow_id: str) -> FlowSummary:
    counts = await ctx.loaders.status_counts.load(flow_id)
    # the same statement as timeline(hours: 24), when both are asked
    recent = await ctx.loaders.hours_of_flow(flow_id, _window_start(24))
    status_counts = sorted((s, c) for s, c in counts.items() if not s.startswith("_"))
    return FlowSummary(
        integration_count=sum(c for _, c in status_counts),
        status_counts=status_counts,
        failing_count=counts["_failing"],
        runs_last_24h=sum(row.runs for row in recent),
        failed_runs_last_24h=sum(row.failed_runs for row in recent),
    )


async def timeline(ctx: Context, flow_id: str, hours: int) -> list[tuple[datetime, int, int, int]]:
    if not 1 <= hours <= MAX_TIMELINE_HOURS:
        raise BadUserInput(f'"hours" must be between 1 and {MAX_TIMELINE_HOURS}, got {hours}.')
    start = _window_start(hours)
    rows = await ctx.loaders.hours_of_flow(flow_id, start)  # every flow's in one statement
    by_hour = {row.hour: row for row in rows}
    out = []
    for i in range(hours):
        hour = start + i * reads.HOUR
        row = by_hour.get(hour)
        out.append((hour, row.runs, row.failed_runs, row.tasks) if row else (hour, 0, 0, 0))
    return out
