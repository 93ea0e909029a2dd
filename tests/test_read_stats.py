"""Flow.stats: counts by status, failing integrations, rolling 24 h figures, the hourly
timeline and tasks, with run start times relative to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import events as e
from tests.conftest import Api

STATS = """query Q($hours: Int!) { flow(flowId: "flow-1") { stats { integrationCount
  statusCounts { status count } failingCount runsLast24h failedRunsLast24h tasksConsumed
  timeline(hours: $hours) { hour runs failedRuns tasks } } } }"""


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def run(
    run_id: str,
    integration_id: str,
    start: datetime,
    status: str | None,
    ok_steps: int,
    failed_steps: int = 0,
) -> list[dict[str, Any]]:
    out = [
        e.ev(
            "runStarted",
            0,
            runId=run_id,
            integrationId=integration_id,
            triggerAppId="slack",
            triggerName="New message",
            triggerType="WEBHOOK",
            startTime=iso(start),
        )
    ]
    for n in range(ok_steps + failed_steps):
        failed = n >= ok_steps
        out.append(
            e.ev(
                "stepFinished",
                0,
                stepId=f"{run_id}-s{n}",
                runId=run_id,
                position=n + 1,
                appId="hubspot",
                name=f"Step {n}",
                status="FAILED" if failed else "OK",
                startTime=iso(start + timedelta(seconds=n)),
                endTime=iso(start + timedelta(seconds=n + 1)),
                networkCode=500 if failed else 200,
            )
        )
    if status is not None:
        out.append(
            e.ev(
                "runFinished",
                0,
                runId=run_id,
                status=status,
                endTime=iso(start + timedelta(seconds=30)),
            )
        )
    return out


async def test_flow_stats(ingester: Api, viewer: Api) -> None:
    now = datetime.now(UTC)
    starts = {
        "r-now": now - timedelta(minutes=1),
        "r-70m": now - timedelta(minutes=70),
        "r-75m": now - timedelta(minutes=75),
        "r-5h": now - timedelta(hours=5),
        "r-30h": now - timedelta(hours=30),  # outside the last 24 h
        "r-other-flow": now - timedelta(minutes=2),
    }
    batch = [
        e.flow("flow-1", "Sync"),
        e.flow("flow-2", "Other"),
        e.integration("i-ok", "flow-1"),
        e.integration("i-fail", "flow-1"),
        e.integration("i-fail2", "flow-1"),
        e.integration("i-never", "flow-1"),
        e.integration("i-init", "flow-1", status="INITIALIZING"),
        e.integration("i-x", "flow-2"),
        *run("r-30h", "i-ok", starts["r-30h"], "FAILED", 1, 1),
        *run("r-5h", "i-fail2", starts["r-5h"], "FAILED", 2, 1),
        *run("r-75m", "i-fail", starts["r-75m"], "FAILED", 0, 1),
        *run("r-70m", "i-ok", starts["r-70m"], "OK", 3),
        *run("r-now", "i-fail", starts["r-now"], None, 1),  # running; started after r-75m
        *run("r-other-flow", "i-x", starts["r-other-flow"], "FAILED", 5, 1),
        e.ev("integrationStatusChanged", 1, integrationId="i-never", status="DISABLED"),
    ]
    result = await ingester.data(e.INGEST, {"events": batch})
    assert result["ingestEvents"]["rejected"] == []
    # make i-fail's last run the failed one: a later run that failed
    result = await ingester.data(
        e.INGEST, {"events": run("r-now", "i-fail", starts["r-now"], "FAILED", 0)}
    )

    data = await viewer.data(STATS, {"hours": 3})
    if floor(datetime.now(UTC)) != floor(now):
        pytest.skip("the hour turned during the test")
    stats = data["flow"]["stats"]
    assert stats["integrationCount"] == 5
    assert {c["status"]: c["count"] for c in stats["statusCounts"]} == {
        "ENABLED": 3,
        "DISABLED": 1,
        "INITIALIZING": 1,
    }
    assert stats["failingCount"] == 2  # i-fail and i-fail2
    assert stats["runsLast24h"] == 4
    assert stats["failedRunsLast24h"] == 3  # r-5h, r-75m, r-now
    assert stats["tasksConsumed"] == 1 + 2 + 0 + 3 + 1

    hours = [floor(now) - timedelta(hours=k) for k in (2, 1, 0)]
    assert [b["hour"] for b in stats["timeline"]] == [iso(h) for h in hours]
    expected = {h: [0, 0, 0] for h in hours}
    for rid, runs, failed, tasks in (("r-now", 1, 1, 1), ("r-70m", 1, 0, 3), ("r-75m", 1, 1, 0)):
        bucket = expected.get(floor(starts[rid]))
        if bucket is not None:
            bucket[0] += runs
            bucket[1] += failed
            bucket[2] += tasks
    assert [[b["runs"], b["failedRuns"], b["tasks"]] for b in stats["timeline"]] == [
        expected[h] for h in hours
    ]

    day = await viewer.data(STATS, {"hours": 24})
    timeline = day["flow"]["stats"]["timeline"]
    assert len(timeline) == 24
    assert timeline[-1]["hour"] == iso(floor(now))
    assert sum(b["runs"] for b in timeline) == 4
    assert sum(b["failedRuns"] for b in timeline) == 3
    assert sum(b["tasks"] for b in timeline) == 1 + 2 + 0 + 3


async def test_stats_of_a_flow_without_integrations(ingester: Api, viewer: Api) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow("flow-1", "Empty")]})
    data = await viewer.data(STATS, {"hours": 2})
    stats = data["flow"]["stats"]
    assert stats["integrationCount"] == 0
    assert stats["statusCounts"] == []
    assert stats["failingCount"] == 0
    assert stats["runsLast24h"] == stats["failedRunsLast24h"] == stats["tasksConsumed"] == 0
    assert [(b["runs"], b["failedRuns"], b["tasks"]) for b in stats["timeline"]] == [(0, 0, 0)] * 2


@pytest.mark.parametrize("hours", [0, -1, 24 * 31 + 1])
async def test_timeline_hours_out_of_range(ingester: Api, viewer: Api, hours: int) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow("flow-1", "Empty")]})
    assert await viewer.error_codes(STATS, {"hours": hours}) == ["BAD_USER_INPUT"]


async def test_deleted_integrations_count(ingester: Api, viewer: Api) -> None:
    await ingester.data(
        e.INGEST,
        {
            "events": [
                e.flow("flow-1"),
                e.integration("a"),
                e.integration("b"),
                e.ev("integrationStatusChanged", 5, integrationId="b", status="DELETED"),
            ]
        },
    )
    data = await viewer.data(STATS, {"hours": 1})
    stats = data["flow"]["stats"]
    assert stats["integrationCount"] == 2
    assert {c["status"]: c["count"] for c in stats["statusCounts"]} == {"ENABLED": 1, "DELETED": 1}


class _FrozenClock(datetime):
    moment: datetime

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return cls.moment


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 2, 12, 30, 15, 500000, tzinfo=UTC),  # mid-hour
        datetime(2026, 11, 2, 12, 0, tzinfo=UTC),  # on the hour
        datetime(2026, 11, 2, 12, 59, 59, 999000, tzinfo=UTC),  # the end of an hour
    ],
)
async def test_last_24h_is_a_rolling_window(
    ingester: Api, viewer: Api, monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    """Runs just inside the 24 h ending now count, runs just outside do not: at both edges,
    whatever the minute (whole hourly buckets were up to an hour off)."""
    ms = timedelta(milliseconds=1)
    day = timedelta(hours=24)
    inside = {
        "oldest": (now - day, "FAILED"),
        "old-edge": (now - day + ms, "OK"),
        "old-edge-2": (now - day + timedelta(minutes=1), "FAILED"),
        "whole-hour": (now - timedelta(hours=12), "FAILED"),
        "recent": (now - timedelta(minutes=1), "OK"),
        "now": (now, "FAILED"),
    }
    outside = {
        "too-old": (now - day - ms, "FAILED"),
        "too-old-2": (now - day - timedelta(minutes=1), "OK"),
        "after-now": (now + ms, "FAILED"),
        "after-now-2": (now + timedelta(minutes=1), "OK"),
    }
    batch = [e.flow("flow-1", "Sync"), e.integration("i-1", "flow-1")]
    for rid, (start, status) in {**inside, **outside}.items():
        batch += run(rid, "i-1", start, status, 0)
    result = await ingester.data(e.INGEST, {"events": batch})
    assert result["ingestEvents"]["rejected"] == []

    _FrozenClock.moment = now
    monkeypatch.setattr("gateway.resolvers.stats.datetime", _FrozenClock)
    data = await viewer.data(STATS, {"hours": 24})
    stats = data["flow"]["stats"]
    assert stats["runsLast24h"] == len(inside)
    assert stats["failedRunsLast24h"] == sum(s == "FAILED" for _, s in inside.values())
