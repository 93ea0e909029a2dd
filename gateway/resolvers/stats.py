"""Flow statistics: counts from the integrations, the rolling last 24 h and the hourly
timeline from hourly buckets (the 24 h's partial edge hours from the runs themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.context import Context
from gateway.db import reads
from gateway.errors import BadUserInput

MAX_TIMELINE_HOURS = 24 * 31
DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class FlowSummary:
    integration_count: int
    status_counts: list[tuple[str, int]]
    failing_count: int
    runs_last_24h: int
    failed_runs_last_24h: int


def _window_start(hours: int) -> datetime:
    return reads.hour_floor(datetime.now(UTC)) - (hours - 1) * reads.HOUR


def _request_now(ctx: Context) -> datetime:
    """One "now" per request, so every flow's window is the same and one statement serves all."""
    now: datetime = ctx.extras.setdefault("stats_now", datetime.now(UTC))
    return now


async def summary(ctx: Context, flow_id: str) -> FlowSummary:
    counts = await ctx.loaders.status_counts.load(flow_id)
    now = _request_now(ctx)
    runs, failed = await ctx.loaders.runs_of_flow_between(flow_id, now - DAY, now)
    status_counts = sorted((s, c) for s, c in counts.items() if not s.startswith("_"))
    return FlowSummary(
        integration_count=sum(c for _, c in status_counts),
        status_counts=status_counts,
        failing_count=counts["_failing"],
        runs_last_24h=runs,
        failed_runs_last_24h=failed,
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
