"""The nested dashboard view costs a fixed number of SQL statements, whatever the page sizes:
each level's pages of every parent come from one statement (issue requirement)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import pytest
from sqlalchemy import event

from gateway.services import Services
from tests import events as e
from tests.conftest import Api

DEEP = """query Deep($n: Int) { flow(flowId: "flow-1") {
  stats { integrationCount statusCounts { status count } failingCount runsLast24h
          failedRunsLast24h tasksConsumed timeline(hours: 3) { hour runs } }
  integrations(first: $n) { totalCount nodes { integrationId userId lastRunStatus
    runs(first: $n) { totalCount nodes { runId status triggerApp { name } failedStep { stepId }
      steps(first: $n) { nodes { stepId app { name } errorDocsUrl
        payload { request { url } response { statusCode } } } } } } } } } }"""

# Statements that are not the read path: transaction control (SQLite issues BEGIN itself)
# and the API key lookup of each request.
_NOT_READS = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b|\bapi_keys\b", re.I)


# Set only inside the measured request: statements of any background task (deliveries,
# publishing after an ingest) are not counted. SQLAlchemy runs the driver in a greenlet that
# shares the calling task's context, so the listener sees it.
_MEASURED = ContextVar("measured", default=False)


@contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if _MEASURED.get() and not _NOT_READS.search(statement):
            seen.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def payload(n: int) -> dict[str, Any]:
    return {
        "request": {
            "method": "POST",
            "url": f"https://api.example.com/v1/{n}",
            "headers": [{"name": "Accept", "value": "application/json"}],
            "body": "{}",
        },
        "response": {"statusCode": 200, "body": '{"ok": true}'},
    }


def seed() -> list[dict[str, Any]]:
    """12 integrations x 12 runs x 12 steps: more than either page size at every level.
    Triggers are Slack or HubSpot, steps HubSpot or Gmail: the step apps need a lookup of
    their own (Gmail), HubSpot comes from the loader's cache."""
    batch: list[dict[str, Any]] = [
        e.ev("appUpserted", 0, appId="slack", name="Slack", docsUrl="https://docs.slack"),
        e.ev("appUpserted", 0, appId="hubspot", name="HubSpot", docsUrl="https://docs.hub"),
        e.ev("appUpserted", 0, appId="gmail", name="Gmail", docsUrl="https://docs.gmail"),
        e.flow("flow-1", "Sync"),
    ]
    for i in range(12):
        iid = f"int-{i:02d}"
        batch.append(e.integration(iid, "flow-1", user_id=f"user-{i}", t=1 + i))
        for r in range(12):
            rid = f"{iid}-run-{r:02d}"
            start = 100 + r * 100 + i
            batch.append(e.run_started(rid, iid, start, app="slack" if r % 2 else "hubspot"))
            for s in range(12):
                failed = s == 11 and r % 3 == 0
                step = e.step_finished(
                    f"{rid}-s{s:02d}",
                    rid,
                    s + 1,
                    start + s,
                    start + s + 0.5,
                    status="FAILED" if failed else "OK",
                    code=500 if failed else 200,
                    payload=payload(s) if s % 2 == 0 else None,
                )
                # steps call other apps than the triggers: their lookup is not cached
                step["stepFinished"]["appId"] = "gmail" if s % 2 else "hubspot"
                batch.append(step)
            batch.append(e.run_finished(rid, "FAILED" if r % 3 == 0 else "OK", start + 20))
    return batch


@pytest.fixture
async def seeded(ingester: Api) -> None:
    events = seed()
    for start in range(0, len(events), 1000):
        result = await ingester.data(e.INGEST, {"events": events[start : start + 1000]})
        assert result["ingestEvents"]["rejected"] == []


async def measure(
    api: Api, services: Services, query: str, variables: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    await api.data("{ __typename }")  # warm-up: nothing cached across requests, but pools are
    with statements(services) as seen:
        token = _MEASURED.set(True)
        try:
            data = await api.data(query, variables)
        finally:
            _MEASURED.reset(token)
    return len(seen), data


# flow, status counts, recent hours, timeline, integration pages, integration count, run
# pages, run counts, trigger apps, failed steps, step pages, step apps, payloads.
EXPECTED_STATEMENTS = 13


async def test_deep_query_costs_the_same_at_any_page_size(
    seeded: None, viewer: Api, services: Services
) -> None:
    counts = {}
    for n in (3, 10):
        count, data = await measure(viewer, services, DEEP, {"n": n})
        integrations = data["flow"]["integrations"]
        assert integrations["totalCount"] == 12
        assert len(integrations["nodes"]) == n
        for integ in integrations["nodes"]:
            assert integ["runs"]["totalCount"] == 12
            assert len(integ["runs"]["nodes"]) == n
            for run in integ["runs"]["nodes"]:
                assert len(run["steps"]["nodes"]) == n
                assert run["triggerApp"]["name"] in {"Slack", "HubSpot"}
                for k, step in enumerate(run["steps"]["nodes"]):
                    assert step["app"]["name"] == ("Gmail" if k % 2 else "HubSpot")
                    assert step["errorDocsUrl"] == (
                        "https://docs.gmail" if k % 2 else "https://docs.hub"
                    )
                    if k % 2 == 0:
                        assert step["payload"]["request"]["url"].endswith(f"/v1/{k}")
                    else:
                        assert step["payload"] is None
        counts[n] = count
    assert counts[3] == counts[10] == EXPECTED_STATEMENTS, counts


async def test_total_count_is_computed_only_when_asked(
    seeded: None, viewer: Api, services: Services
) -> None:
    base = """{ flow(flowId: "flow-1") { integrations(first: 5) { %s nodes {
        runs(first: 5) { %s nodes { runId } } } } } }"""
    without, _ = await measure(viewer, services, base % ("", ""), {})
    with_outer, _ = await measure(viewer, services, base % ("totalCount", ""), {})
    with_both, _ = await measure(viewer, services, base % ("totalCount", "totalCount"), {})
    assert without == 3  # flow, integration pages, run pages
    assert with_outer == without + 1
    assert with_both == without + 2


async def test_lookups_are_batched(seeded: None, viewer: Api, services: Services) -> None:
    ids = ", ".join(
        f'r{i}: run(runId: "int-{i:02d}-run-00") {{ runId integration {{ '
        f"integrationId flow {{ flowId }} }} }}"
        for i in range(12)
    )
    count, data = await measure(viewer, services, f"{{ {ids} }}", {})
    assert all(data[f"r{i}"]["integration"]["flow"]["flowId"] == "flow-1" for i in range(12))
    assert count == 3  # runs, integrations, flows


FLOWS = """query Flows($n: Int) { flows(first: $n) { nodes { flowId
  stats { integrationCount failingCount runsLast24h timeline(hours: 3) { runs } }
  runs(first: $n) { totalCount nodes { runId } }
  integrations(first: $n) { totalCount nodes { runs(first: $n) { nodes { runId } } } } } } }"""


async def test_flow_list_with_stats_costs_the_same_at_any_page_size(
    ingester: Api, viewer: Api, services: Services
) -> None:
    batch: list[dict[str, Any]] = []
    for f in range(6):
        batch.append(e.flow(f"flow-{f}", f"Flow {f}", t=f))
        for i in range(6):
            iid = f"int-{f}-{i}"
            batch.append(e.integration(iid, f"flow-{f}", t=10 + i))
            batch += [e.run_started(f"{iid}-r{r}", iid, 100 + r) for r in range(6)]
    result = await ingester.data(e.INGEST, {"events": batch})
    assert result["ingestEvents"]["rejected"] == []
    counts = {}
    for n in (2, 5):
        counts[n], data = await measure(viewer, services, FLOWS, {"n": n})
        flows = data["flows"]["nodes"]
        assert len(flows) == n
        for flow in flows:
            assert flow["stats"]["integrationCount"] == 6
            assert len(flow["stats"]["timeline"]) == 3
            assert flow["runs"]["totalCount"] == 36
            assert len(flow["integrations"]["nodes"]) == n
            assert all(len(i["runs"]["nodes"]) == n for i in flow["integrations"]["nodes"])
    # flows page, status counts, last 24 h, timeline, flow run pages, flow run counts,
    # integration pages, integration counts, integration run pages
    assert counts[2] == counts[5] == 9, counts


ACCOUNT_INTEGRATIONS = """query Q($n: Int) { integrations(first: $n) { totalCount nodes {
  integrationId flow { flowId stats { runsLast24h failedRunsLast24h } }
  runs(first: $n) { totalCount nodes { runId triggerApp { name } } } } } }"""


async def test_account_integrations_cost_the_same_at_any_page_size(
    seeded: None, viewer: Api, services: Services
) -> None:
    counts = {}
    for n in (3, 10):
        counts[n], data = await measure(viewer, services, ACCOUNT_INTEGRATIONS, {"n": n})
        integrations = data["integrations"]
        assert integrations["totalCount"] == 12
        assert [i["integrationId"] for i in integrations["nodes"]] == [
            f"int-{i:02d}" for i in range(11, 11 - n, -1)
        ]
        for integ in integrations["nodes"]:
            assert integ["flow"]["flowId"] == "flow-1"
            assert integ["runs"]["totalCount"] == 12
            assert len(integ["runs"]["nodes"]) == n
    # integration page, its count, flows, their status counts and last 24 h, run pages, run
    # counts, trigger apps
    assert counts[3] == counts[10] == 8, counts
