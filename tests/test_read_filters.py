"""Search, every filter field and totalCount, through the real app."""

from __future__ import annotations

from typing import Any

import pytest

from tests import events as e
from tests.conftest import Api


def iso(t: float) -> str:
    return e.at(t)


def seed() -> list[dict[str, Any]]:
    return [
        e.ev("appUpserted", 0, appId="strasse", name="Straße"),
        e.ev("appUpserted", 0, appId="hub", name="HubSpot"),
        e.ev("appUpserted", 0, appId="greek", name="ΣΊΣΥΦΟΣ"),
        e.flow("flow-1", "Sync contacts", t=0),
        e.flow("flow-2", "Other", t=0),
        e.integration("int-a", "flow-1", user_id="Alice@Example.com", t=100, userAuth="auth-A"),
        e.integration("int-b", "flow-1", user_id="bob@example.com", t=200, userAuth="auth-b"),
        e.integration("int-c", "flow-1", user_id="carol", t=300),
        e.integration("int-d", "flow-1", user_id="dave", t=400, status="INITIALIZING"),
        e.integration("int-x", "flow-2", user_id="bob@example.com", t=150),
        # runs of int-a
        e.run_started("run-1", "int-a", 1000, app="strasse", trigger_type="WEBHOOK"),
        e.step_finished("s-1a", "run-1", 1, 1001, 1002, code=200),
        e.step_finished("s-1b", "run-1", 2, 1002, 1003, code=201),
        e.run_finished("run-1", "OK", 1004),
        e.run_started("run-2", "int-a", 2000, app="hub", trigger_type="POLL"),
        e.step_finished("s-2a", "run-2", 1, 2001, 2002, code=200),
        e.step_finished("s-2b", "run-2", 2, 2002, 2003, status="FAILED", code=404),
        e.run_finished("run-2", "FAILED", 2004),
        e.run_started("run-3", "int-a", 3000, app="greek", trigger_type="SCHEDULE"),
        e.step_finished("s-3a", "run-3", 1, 3001, 3002, status="FAILED", code=503),
        e.run_finished("run-3", "FAILED", 3004),
        e.run_started("run-4", "int-a", 4000, app="hub", trigger_type="MANUAL"),
        e.step_finished("s-4a", "run-4", 1, 4001, 4002, code=302),
        e.step_started("s-4b", "run-4", 2, 4002),
        e.run_started("run-5", "int-a", 5000, app="strasse", trigger_type="WEBHOOK"),
        # int-b: one run, OK; int-c: one failed run
        e.run_started("run-b1", "int-b", 2500, app="hub"),
        e.run_finished("run-b1", "OK", 2600),
        e.run_started("run-c1", "int-c", 3500, app="hub"),
        e.step_finished("s-c1", "run-c1", 1, 3501, 3502, status="SKIPPED", code=None),
        e.run_finished("run-c1", "FAILED", 3600),
        e.ev(
            "integrationStatusChanged",
            3700,
            integrationId="int-c",
            status="PAUSED",
            reason="TOO_MANY_ERRORS",
        ),
        # int-x in flow-2, also has a run with a slack trigger
        e.run_started("run-x1", "int-x", 1500, app="strasse"),
    ]


@pytest.fixture
async def seeded(ingester: Api) -> None:
    result = await ingester.data(e.INGEST, {"events": seed()})
    assert result["ingestEvents"]["rejected"] == []


INTEGRATIONS = """query Q($search: String, $filter: IntegrationFilter, $first: Int,
  $after: String) {
  flow(flowId: "flow-1") { integrations(search: $search, filter: $filter, first: $first,
    after: $after) { totalCount nodes { integrationId } pageInfo { endCursor } } } }"""


async def integrations(api: Api, **variables: Any) -> tuple[list[str], int]:
    data = await api.data(INTEGRATIONS, variables)
    conn = data["flow"]["integrations"]
    return sorted(n["integrationId"] for n in conn["nodes"]), conn["totalCount"]


# integration search --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("int-a", ["int-a"]),
        ("Alice@Example.com", ["int-a"]),
        ("auth-A", ["int-a"]),
        ("bob@example.com", ["int-b"]),  # int-x has it too, but in another flow
        ("auth-b", ["int-b"]),
        # userAuth whole, in any case
        ("auth-a", ["int-a"]),
        ("AUTH-B", ["int-b"]),
        # IDs exact and case-sensitive: no prefix, no other case, no LIKE pattern
        ("int-", []),
        ("int", []),
        ("INT-A", []),
        ("alice@example.com", []),
        ("auth", []),
        ("Alice", []),
        ("int-%", []),
        ("int-_", []),
        ("%", []),
        (" int-a", []),
        ("", ["int-a", "int-b", "int-c", "int-d"]),
        (None, ["int-a", "int-b", "int-c", "int-d"]),
    ],
)
async def test_integration_search(
    seeded: None, viewer: Api, search: str | None, expected: list[str]
) -> None:
    assert await integrations(viewer, search=search) == (expected, len(expected))


# integration filter ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"status": ["ENABLED"]}, ["int-a", "int-b"]),
        ({"status": ["PAUSED", "INITIALIZING"]}, ["int-c", "int-d"]),
        ({"status": ["DISABLED"]}, []),
        ({"status": []}, ["int-a", "int-b", "int-c", "int-d"]),
        ({"lastRunStatus": ["HASNT_RUN"]}, ["int-d"]),
        ({"lastRunStatus": ["RUNNING"]}, ["int-a"]),
        ({"lastRunStatus": ["OK", "FAILED"]}, ["int-b", "int-c"]),
        ({"lastRunStatus": []}, ["int-a", "int-b", "int-c", "int-d"]),
        ({"createdAfter": iso(200)}, ["int-b", "int-c", "int-d"]),  # inclusive
        ({"createdBefore": iso(200)}, ["int-a"]),  # exclusive
        ({"createdAfter": iso(200), "createdBefore": iso(400)}, ["int-b", "int-c"]),
        ({"createdAfter": "2026-11-01T13:03:20+01:00"}, ["int-b", "int-c", "int-d"]),  # offset
        ({"lastRunAfter": iso(3500)}, ["int-a", "int-c"]),
        ({"lastRunBefore": iso(3500)}, ["int-b"]),  # null last run never matches a range
        ({"lastRunAfter": iso(2500), "lastRunBefore": iso(3501)}, ["int-b", "int-c"]),
        (
            {"status": ["ENABLED", "PAUSED"], "lastRunStatus": ["FAILED", "RUNNING"]},
            ["int-a", "int-c"],
        ),
        ({}, ["int-a", "int-b", "int-c", "int-d"]),
    ],
)
async def test_integration_filter(
    seeded: None, viewer: Api, filter: dict[str, Any], expected: list[str]
) -> None:
    assert await integrations(viewer, filter=filter) == (expected, len(expected))


async def test_integration_search_and_filter_are_anded(seeded: None, viewer: Api) -> None:
    assert await integrations(viewer, search="int-a", filter={"status": ["PAUSED"]}) == ([], 0)
    assert await integrations(viewer, search="carol", filter={"status": ["PAUSED"]}) == (
        ["int-c"],
        1,
    )


async def test_deleted_integrations_are_listed(seeded: None, ingester: Api, viewer: Api) -> None:
    await ingester.data(
        e.INGEST,
        {
            "events": [
                e.ev("integrationStatusChanged", 5000, integrationId="int-d", status="DELETED")
            ]
        },
    )
    ids, total = await integrations(viewer)
    assert "int-d" in ids
    assert total == 4
    assert await integrations(viewer, filter={"status": ["DELETED"]}) == (["int-d"], 1)


# totalCount --------------------------------------------------------------------------------


async def test_total_count_ignores_cursor_and_page_size(seeded: None, viewer: Api) -> None:
    data = await viewer.data(INTEGRATIONS, {"first": 1})
    conn = data["flow"]["integrations"]
    assert conn["totalCount"] == 4
    assert len(conn["nodes"]) == 1
    data = await viewer.data(INTEGRATIONS, {"first": 2, "after": conn["pageInfo"]["endCursor"]})
    assert data["flow"]["integrations"]["totalCount"] == 4
    data = await viewer.data(INTEGRATIONS, {"first": 1, "filter": {"status": ["ENABLED"]}})
    assert data["flow"]["integrations"]["totalCount"] == 2
    data = await viewer.data("""{ runs(first: 1) { totalCount }
        flows(first: 1) { totalCount }
        run(runId: "run-1") { steps(first: 1) { totalCount } }
        flow(flowId: "flow-1") { runs(first: 2, filter: {status: [FAILED]}) { totalCount } } }""")
    assert data["runs"]["totalCount"] == 8
    assert data["flows"]["totalCount"] == 2
    assert data["run"]["steps"]["totalCount"] == 2
    assert data["flow"]["runs"]["totalCount"] == 3


# runs search -----------------------------------------------------------------------------

RUNS = """query Q($search: String, $filter: RunFilter) {
  integration(integrationId: "int-a") { runs(search: $search, filter: $filter, first: 100) {
    totalCount nodes { runId } } }
  runs(search: $search, filter: $filter, first: 100) { totalCount nodes { runId } }
  flow(flowId: "flow-1") { runs(search: $search, filter: $filter, first: 100) {
    totalCount nodes { runId } } } }"""


async def runs(api: Api, **variables: Any) -> list[str]:
    data = await api.data(RUNS, variables)
    conn = data["integration"]["runs"]
    ids = sorted(n["runId"] for n in conn["nodes"])
    assert conn["totalCount"] == len(ids)
    for other in (data["runs"], data["flow"]["runs"]):
        assert other["totalCount"] == len(other["nodes"])
    return ids


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("run-1", ["run-1"]),
        ("run-", []),
        ("RUN-1", []),
        ("Straße", ["run-1", "run-5"]),
        ("STRASSE", ["run-1", "run-5"]),
        ("strasse", ["run-1", "run-5"]),
        ("straße", ["run-1", "run-5"]),
        ("Stra", []),  # the whole name only
        ("hubspot", ["run-2", "run-4"]),
        ("HUBSPOT", ["run-2", "run-4"]),
        ("Hub", []),
        ("σίσυφος", ["run-3"]),  # non-ASCII case folding, also on SQLite
        ("ΣΊΣΥΦΟΣ", ["run-3"]),
        ("hub", []),  # the app's ID is not its name
        ("%", []),
        ("", ["run-1", "run-2", "run-3", "run-4", "run-5"]),
        (None, ["run-1", "run-2", "run-3", "run-4", "run-5"]),
    ],
)
async def test_run_search(
    seeded: None, viewer: Api, search: str | None, expected: list[str]
) -> None:
    assert await runs(viewer, search=search) == expected


async def test_account_run_search_spans_flows(seeded: None, viewer: Api) -> None:
    data = await viewer.data(RUNS, {"search": "STRASSE"})
    assert sorted(n["runId"] for n in data["runs"]["nodes"]) == ["run-1", "run-5", "run-x1"]
    assert sorted(n["runId"] for n in data["flow"]["runs"]["nodes"]) == ["run-1", "run-5"]


async def test_app_renamed_is_searched_by_its_new_name(
    seeded: None, ingester: Api, viewer: Api
) -> None:
    await ingester.data(e.INGEST, {"events": [e.ev("appUpserted", 10, appId="hub", name="Hubbub")]})
    assert await runs(viewer, search="hubspot") == []
    assert await runs(viewer, search="HUBBUB") == ["run-2", "run-4"]


# runs filter --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"status": ["RUNNING"]}, ["run-4", "run-5"]),
        ({"status": ["OK", "FAILED"]}, ["run-1", "run-2", "run-3"]),
        ({"status": []}, ["run-1", "run-2", "run-3", "run-4", "run-5"]),
        ({"startedAfter": iso(3000)}, ["run-3", "run-4", "run-5"]),
        ({"startedBefore": iso(3000)}, ["run-1", "run-2"]),
        ({"startedAfter": iso(2000), "startedBefore": iso(4000)}, ["run-2", "run-3"]),
        ({"networkCode": [404]}, ["run-2"]),
        ({"networkCode": [404, 201]}, ["run-1", "run-2"]),
        ({"networkCode": [500]}, []),
        ({"networkCode": []}, ["run-1", "run-2", "run-3", "run-4", "run-5"]),
        ({"networkCodeClass": ["C2XX"]}, ["run-1"]),
        ({"networkCodeClass": ["C3XX"]}, ["run-4"]),
        ({"networkCodeClass": ["C4XX", "C5XX"]}, ["run-2", "run-3"]),
        ({"networkCodeClass": []}, ["run-1", "run-2", "run-3", "run-4", "run-5"]),
        # networkCode and networkCodeClass together are a union
        ({"networkCode": [404], "networkCodeClass": ["C5XX"]}, ["run-2", "run-3"]),
        ({"networkCode": [201], "networkCodeClass": ["C3XX"]}, ["run-1", "run-4"]),
        ({"networkCode": [], "networkCodeClass": ["C3XX"]}, ["run-4"]),
        ({"triggerType": ["WEBHOOK"]}, ["run-1", "run-5"]),
        ({"triggerType": ["POLL", "SCHEDULE"]}, ["run-2", "run-3"]),
        ({"triggerType": []}, ["run-1", "run-2", "run-3", "run-4", "run-5"]),
        ({"status": ["FAILED"], "networkCodeClass": ["C4XX"]}, ["run-2"]),
        ({"status": ["FAILED", "OK"], "triggerType": ["WEBHOOK", "SCHEDULE"]}, ["run-1", "run-3"]),
    ],
)
async def test_run_filter(
    seeded: None, viewer: Api, filter: dict[str, Any], expected: list[str]
) -> None:
    assert await runs(viewer, filter=filter) == expected


async def test_run_search_and_filter_are_anded(seeded: None, viewer: Api) -> None:
    assert await runs(viewer, search="strasse", filter={"status": ["OK"]}) == ["run-1"]


# steps filter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"status": ["OK"]}, ["s-4a"]),
        ({"status": ["RUNNING"]}, ["s-4b"]),
        ({"status": ["OK", "RUNNING"]}, ["s-4a", "s-4b"]),
        ({"status": ["FAILED", "SKIPPED"]}, []),
        ({"status": []}, ["s-4a", "s-4b"]),
        (None, ["s-4a", "s-4b"]),
    ],
)
async def test_step_filter(
    seeded: None, viewer: Api, filter: dict[str, Any] | None, expected: list[str]
) -> None:
    data = await viewer.data(
        """query Q($filter: StepFilter) { run(runId: "run-4") {
        steps(filter: $filter) { totalCount nodes { stepId } } } }""",
        {"filter": filter},
    )
    conn = data["run"]["steps"]
    assert [n["stepId"] for n in conn["nodes"]] == expected
    assert conn["totalCount"] == len(expected)


async def test_step_filter_skipped(seeded: None, viewer: Api) -> None:
    data = await viewer.data("""{ run(runId: "run-c1") {
        steps(filter: {status: [SKIPPED]}) { totalCount nodes { stepId } } } }""")
    assert data["run"]["steps"] == {"totalCount": 1, "nodes": [{"stepId": "s-c1"}]}


# flows filter ------------------------------------------------------------------------------


async def test_flow_filter(ingester: Api, viewer: Api) -> None:
    await ingester.data(
        e.INGEST,
        {
            "events": [
                e.flow("f-1", "Sync HubSpot contacts", "PUBLISHED"),
                e.flow("f-2", "100% sync", "DRAFT"),
                e.flow("f-3", "100 percent", "PUBLISHED"),
                e.flow("f-4", "snake_case flow", "DRAFT"),
                e.flow("f-5", "snakeXcase flow", "PUBLISHED"),
                e.flow("f-6", "Große Straße", "PUBLISHED"),
                e.flow("f-7", "back\\slash", "DRAFT"),
            ]
        },
    )
    query = """query Q($filter: FlowFilter) { flows(filter: $filter, first: 100) {
        totalCount nodes { flowId } } }"""

    async def flows(filter: dict[str, Any] | None) -> list[str]:
        data = await viewer.data(query, {"filter": filter})
        ids = sorted(n["flowId"] for n in data["flows"]["nodes"])
        assert data["flows"]["totalCount"] == len(ids)
        return ids

    every = [f"f-{n}" for n in range(1, 8)]
    assert await flows(None) == every
    assert await flows({}) == every
    assert await flows({"status": "DRAFT"}) == ["f-2", "f-4", "f-7"]
    assert await flows({"status": "PUBLISHED"}) == ["f-1", "f-3", "f-5", "f-6"]
    assert await flows({"nameContains": "hubspot"}) == ["f-1"]
    assert await flows({"nameContains": "SYNC"}) == ["f-1", "f-2"]
    assert await flows({"nameContains": "100%"}) == ["f-2"]
    assert await flows({"nameContains": "%"}) == ["f-2"]
    assert await flows({"nameContains": "_"}) == ["f-4"]
    assert await flows({"nameContains": "e_c"}) == ["f-4"]
    assert await flows({"nameContains": "\\"}) == ["f-7"]
    assert await flows({"nameContains": "STRASSE"}) == ["f-6"]
    assert await flows({"nameContains": "große"}) == ["f-6"]
    assert await flows({"nameContains": "nothing"}) == []
    assert await flows({"nameContains": ""}) == every
    assert await flows({"nameContains": "sync", "status": "DRAFT"}) == ["f-2"]
