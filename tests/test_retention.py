"""Retention: purging what is older than a cutoff, batch by batch, with derived values kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from gateway.actions import retention
from gateway.actions.retention import Target
from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db import changelog
from gateway.db import tables as t
from gateway.db.migrate import upgrade_async
from gateway.db.purge import PURGED_TABLES
from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.test_ingest_support import RECENT, client, send

DAY = 86_400.0
OLD = RECENT - 5 * DAY  # well before the cutoff
CUTOFF = e.T0 + timedelta(seconds=RECENT - 2 * DAY)
PAYLOAD = {
    "request": {"method": "POST", "url": "https://api.example.com/x", "headers": []},
    "response": {"statusCode": 200, "headers": [], "body": '{"ok": true}'},
}

SHOWN = """
query($flowId: String!) {
  flow(flowId: $flowId) {
    stats { tasksConsumed failingCount runsLast24h timeline(hours: 24) { hour runs tasks } }
    integrations { nodes { integrationId lastRunStart lastRunStatus tasksConsumed status } }
    endUsers { nodes { userId tasksConsumed tasksConsumedInPeriod taskLimit status } }
  }
}
"""
RUNS = """
query($id: String!) {
  integration(integrationId: $id) {
    runs(first: 100) { totalCount nodes { runId status steps { totalCount } } }
    statusHistory(first: 100) { nodes { to at } }
  }
}
"""


def _old_run(run_id: str, integration_id: str, start: float, status: str = "OK") -> list[Any]:
    """A finished run of two steps, the first OK with a payload."""
    return [
        e.run_started(run_id, integration_id, start),
        e.step_finished(f"{run_id}-a", run_id, 1, start + 1, start + 2, payload=PAYLOAD),
        e.step_finished(f"{run_id}-b", run_id, 2, start + 2, start + 3, status=status, code=500),
        e.run_finished(run_id, status, start + 4),
    ]


async def _seed(ingester: Api) -> None:
    events: list[Any] = [
        e.flow(t=OLD),
        e.integration("int-1", user_id="ann", t=OLD + 1),
        e.integration("int-2", user_id="bob", t=OLD + 1),
    ]
    for n in range(5):
        events += _old_run(f"old-{n}", "int-1", OLD + 10 * n, "FAILED" if n % 2 else "OK")
    # int-2's only, hence last, run is old: its last run must still show.
    events += _old_run("old-last", "int-2", OLD + 100)
    # Old, but still running: never purged.
    events += [
        e.run_started("stuck", "int-1", OLD + 200),
        e.step_started("stuck-a", "stuck", 1, OLD + 201),
    ]
    events += _old_run("new-1", "int-1", RECENT)
    # A status change after the cutoff stays in the history; the creation's goes.
    events.append(
        e.ev(
            "integrationStatusChanged",
            RECENT + 10,
            integrationId="int-1",
            status="PAUSED",
            reason="BILLING",
        )
    )
    result = await send(ingester, events)
    assert result["rejected"] == []


async def _table_counts(services: Services, account_id: str) -> dict[str, int]:
    out = {}
    async with services.db.read() as conn:
        for table in (t.runs, t.steps, t.payloads, t.integration_status_changes, t.change_log):
            n = await conn.scalar(
                select(func.count()).select_from(table).where(table.c.account_id == account_id)
            )
            out[table.name] = int(n or 0)
    return out


async def test_purge_deletes_old_finished_runs_and_keeps_what_the_screens_show(
    ingester: Api, viewer: Api, services: Services, app_and_services: Any
) -> None:
    # given old and new runs, and another account with the same IDs and times
    await _seed(ingester)
    async with client(app_and_services, f"{ingester.account_id}-other", "ingest") as other:
        await _seed(other)
    shown = await viewer.data(SHOWN, {"flowId": "flow-1"})
    before = await _table_counts(services, viewer.account_id)
    other_before = await _table_counts(services, f"{ingester.account_id}-other")
    target = Target(viewer.account_id, CUTOFF)
    planned = await retention.count(services.db, [target])

    # when it is purged, two runs per transaction, while a screen keeps reading
    batches: list[dict[str, int]] = []
    reads: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def purge() -> dict[str, int]:
        try:
            return await retention.purge(
                services.db, [target], batch_size=2, on_batch=batches.append
            )
        finally:
            done.set()

    async def read() -> None:
        while not done.is_set():
            reads.append(await viewer.data(RUNS, {"id": "int-1"}))
        reads.append(await viewer.data(RUNS, {"id": "int-1"}))

    purged, _ = await asyncio.gather(purge(), read())

    # then the old finished runs went with their steps and payloads, in bounded batches
    assert purged == planned
    assert (purged["runs"], purged["steps"], purged["payloads"]) == (6, 12, 6)
    assert purged["integration_status_changes"] == 2  # the two creations
    assert all(b.get("runs", 0) <= 2 and b.get(PURGED_TABLES[-1], 0) <= 2 for b in batches)
    assert sum(1 for b in batches if "runs" in b) >= 3
    # every read worked, and saw a run's steps all or none (a request's statements read
    # apart, so a run listed by one may have lost its steps, in one batch, by the next)
    assert len(reads) >= 2
    for seen in reads:
        for run in seen["integration"]["runs"]["nodes"]:
            assert run["steps"]["totalCount"] in (0, 1 if run["runId"] == "stuck" else 2), run
    after = await _table_counts(services, viewer.account_id)
    assert {k: before[k] - after[k] for k in before} == purged
    runs = reads[-1]["integration"]["runs"]
    assert [(r["runId"], r["status"], r["steps"]["totalCount"]) for r in runs["nodes"]] == [
        ("new-1", "OK", 2),
        ("stuck", "RUNNING", 1),
    ]
    assert [h["to"] for h in reads[-1]["integration"]["statusHistory"]["nodes"]] == ["PAUSED"]
    gone = await viewer.data('{ run(runId: "old-0") { runId } step(stepId: "old-0-a") { stepId } }')
    assert gone == {"run": None, "step": None}
    # and tasks consumed, last runs and the statistics read as before
    assert await viewer.data(SHOWN, {"flowId": "flow-1"}) == shown
    # and the other account lost nothing
    assert await _table_counts(services, f"{ingester.account_id}-other") == other_before
    # and a second purge finds nothing left
    assert set((await retention.count(services.db, [target])).values()) == {0}


async def test_ingest_after_a_purge_keeps_the_counters_right(
    ingester: Api, viewer: Api, services: Services
) -> None:
    # given an integration whose old runs were purged
    await _seed(ingester)
    await retention.purge(services.db, [Target(viewer.account_id, CUTOFF)], batch_size=100)
    # when a new run finishes with one more task
    result = await send(ingester, _old_run("new-2", "int-2", RECENT + 60))
    assert result["rejected"] == []
    # then the counters grow from what they were, not from what is left
    data = await viewer.data(SHOWN, {"flowId": "flow-1"})
    by_id = {i["integrationId"]: i for i in data["flow"]["integrations"]["nodes"]}
    assert by_id["int-2"]["tasksConsumed"] == 4  # old-last's 2 (purged) and new-2's 2
    assert by_id["int-2"]["lastRunStatus"] == "OK"
    assert by_id["int-2"]["lastRunStart"] == e.at(RECENT + 60)
    users = {u["userId"]: u["tasksConsumed"] for u in data["flow"]["endUsers"]["nodes"]}
    assert users["bob"] == 4


async def test_a_purge_of_every_change_keeps_the_numbering_going(
    ingester: Api, viewer: Api, services: Services
) -> None:
    # given an account whose every change is older than the cutoff
    await send(ingester, [e.flow(t=OLD), e.integration("int-1", t=OLD + 1)])
    await send(ingester, _old_run("old-1", "int-1", OLD + 10))
    async with services.db.read() as conn:
        last = await changelog.last_seq(conn, viewer.account_id)
    await retention.purge(services.db, [Target(viewer.account_id, CUTOFF)], batch_size=100)
    # then its last change is kept, and the next change is numbered after it, never again 1
    async with services.db.read() as conn:
        assert await changelog.last_seq(conn, viewer.account_id) == last
        assert await changelog.first_seq(conn, viewer.account_id) == last
    await send(ingester, _old_run("new-1", "int-1", RECENT))
    async with services.db.read() as conn:
        assert await changelog.first_seq(conn, viewer.account_id) == last
        assert await changelog.last_seq(conn, viewer.account_id) > last


async def test_dry_run_counts_and_deletes_nothing(
    ingester: Api, viewer: Api, services: Services
) -> None:
    await _seed(ingester)
    before = await _table_counts(services, viewer.account_id)
    chosen = await retention.targets(
        services.db,
        default_days=30,
        older_than=timedelta(days=1),
        account_id=viewer.account_id,
    )
    assert [c.account_id for c in chosen] == [viewer.account_id]
    counts = await retention.count(services.db, chosen)
    assert counts["runs"] == 6  # the old finished runs; the newest started hours ago
    assert await _table_counts(services, viewer.account_id) == before


async def test_targets_follow_each_accounts_retention_days(
    admin: Api, services: Services, app_and_services: Any
) -> None:
    # given one account that keeps everything and one that keeps 7 days
    await admin.data("mutation { setAccountSettings(retentionDays: 0) { accountId } }")
    async with client(app_and_services, f"{admin.account_id}-7", "admin") as seven:
        await seven.data("mutation { setAccountSettings(retentionDays: 7) { accountId } }")
        # when the targets are chosen by retentionDays
        chosen = {
            c.account_id: c for c in await retention.targets(services.db, default_days=30, now=e.T0)
        }
    # then the one keeping everything is left out, the other cut 7 days back
    assert admin.account_id not in chosen
    assert chosen[seven.account_id].cutoff == e.T0 - timedelta(days=7)


async def test_the_server_sweeps_by_retention_days(tmp_path: Path) -> None:
    # given a server whose sweep runs, and an account keeping one day of runs
    url = f"sqlite+aiosqlite:///{tmp_path / 'sweep.db'}"
    await upgrade_async(url)
    settings = Settings(database_url=url, retention_sweep_seconds=3600, key_cache_seconds=0)
    seeding = create_app(settings)
    seeder: Services = seeding.state.services
    try:
        key = await create_key(seeder.db, "swept", "admin")
        ingest_key = await create_key(seeder.db, "swept", "ingest")
        transport = httpx.ASGITransport(app=seeding)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            admin = Api(http, "swept")
            http.headers["Authorization"] = f"Bearer {key}"
            await admin.data("mutation { setAccountSettings(retentionDays: 1) { accountId } }")
            http.headers["Authorization"] = f"Bearer {ingest_key}"
            await _seed(admin)
    finally:
        await seeder.close()
    # when the server starts
    app = create_app(settings)
    services: Services = app.state.services
    async with app.router.lifespan_context(app):
        for _ in range(200):  # the first sweep runs at start
            if (await _table_counts(services, "swept"))["runs"] == 2:
                break
            await _sleep()
        counts = await _table_counts(services, "swept")
    # then only the recent run and the running one are left
    assert counts["runs"] == 2
    assert counts["steps"] == 3


async def _sleep() -> None:
    await asyncio.sleep(0.05)
