"""Keyset pagination of every connection, through the real app: forward and backward, ties,
nulls last in both directions, stability under inserts, and the argument errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import events as e
from tests.conftest import Api

PAGE = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
ARGS = "$first: Int, $after: String, $last: Int, $before: String"
PASS = "first: $first, after: $after, last: $last, before: $before"


def dig(data: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split("."):
        data = data[part]
    return data


def expected_order(items: dict[str, Any], descending: bool) -> list[str]:
    """Ids by (value, id) in the direction, nulls last whatever the direction."""
    present = sorted(((v, k) for k, v in items.items() if v is not None), reverse=descending)
    nulls = sorted((k for k, v in items.items() if v is None), reverse=descending)
    return [k for _, k in present] + nulls


def check_page(conn: dict[str, Any], key: str) -> list[str]:
    edges = conn["edges"]
    ids = [edge["node"][key] for edge in edges]
    assert [n[key] for n in conn["nodes"]] == ids
    info = conn["pageInfo"]
    if edges:
        assert info["startCursor"] == edges[0]["cursor"]
        assert info["endCursor"] == edges[-1]["cursor"]
    else:
        assert info["startCursor"] is None
        assert info["endCursor"] is None
    return ids


async def walk_forward(
    api: Api, query: str, path: str, key: str, size: int, variables: dict[str, Any] | None = None
) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(200):
        data = await api.data(query, {**(variables or {}), "first": size, "after": after})
        conn = dig(data, path)
        ids = check_page(conn, key)
        info = conn["pageInfo"]
        assert info["hasPreviousPage"] == (after is not None)
        seen += ids
        if not info["hasNextPage"]:
            assert len(ids) <= size
            break
        assert len(ids) == size
        after = info["endCursor"]
    assert len(seen) == len(set(seen)), f"repeated rows: {seen}"
    return seen


async def walk_backward(
    api: Api, query: str, path: str, key: str, size: int, variables: dict[str, Any] | None = None
) -> list[str]:
    seen: list[str] = []
    before = None
    for _ in range(200):
        data = await api.data(query, {**(variables or {}), "last": size, "before": before})
        conn = dig(data, path)
        ids = check_page(conn, key)
        info = conn["pageInfo"]
        assert info["hasNextPage"] == (before is not None)
        seen = ids + seen
        if not info["hasPreviousPage"]:
            assert len(ids) <= size
            break
        assert len(ids) == size
        before = info["startCursor"]
    assert len(seen) == len(set(seen)), f"repeated rows: {seen}"
    return seen


async def check_all_ways(
    api: Api,
    query: str,
    path: str,
    key: str,
    expected: list[str],
    variables: dict[str, Any] | None = None,
) -> None:
    full = await api.data(query, {**(variables or {}), "first": 100})
    conn = dig(full, path)
    assert check_page(conn, key) == expected
    assert conn["pageInfo"]["hasNextPage"] is False
    assert conn["pageInfo"]["hasPreviousPage"] is False
    for size in (1, 3, 4, len(expected)):
        assert await walk_forward(api, query, path, key, size, variables) == expected, size
        assert await walk_backward(api, query, path, key, size, variables) == expected, size


# data -----------------------------------------------------------------------------------

# Integrations: created in groups of three at the same moment (ties ordered by id); every
# other one has runs, so LAST_RUN_START has nulls, and two share a last run start.
INTEGRATIONS = [f"i{n:02d}" for n in range(11)]
CREATED = {iid: 100 + (n // 3) * 10 for n, iid in enumerate(INTEGRATIONS)}
LAST_RUN = {
    iid: (1000 + (n // 4) * 60 if n % 2 == 0 else None) for n, iid in enumerate(INTEGRATIONS)
}

# Runs of i00: pairs share a start time; durations with ties and nulls (still running).
RUNS = [f"r{n:02d}" for n in range(12)]
RUN_START = {rid: 2000 + (n // 2) * 30 for n, rid in enumerate(RUNS)}
RUN_DURATION = {rid: (None if n % 4 == 3 else [5, 7, 5, 9, 7][n % 5]) for n, rid in enumerate(RUNS)}
STEPS = [f"s{n:02d}" for n in range(7)]


def seed_events() -> list[dict[str, Any]]:
    batch: list[dict[str, Any]] = [e.flow("flow-1", "Sync", t=0)]
    for iid in INTEGRATIONS:
        batch.append(e.integration(iid, "flow-1", user_id=f"u-{iid}", t=CREATED[iid]))
    for iid, start in LAST_RUN.items():
        if start is not None and iid != "i00":
            batch.append(e.run_started(f"run-{iid}", iid, start))
    # i00's runs (its last run start comes from them)
    for rid in RUNS:
        batch.append(e.run_started(rid, "i00", RUN_START[rid]))
        duration = RUN_DURATION[rid]
        if duration is not None:
            batch.append(e.run_finished(rid, "OK", RUN_START[rid] + duration))
    for n, sid in enumerate(STEPS):
        batch.append(e.step_finished(sid, "r00", n + 1, 2001 + n, 2002 + n))
    return batch


@pytest.fixture
async def seeded(ingester: Api) -> None:
    result = await ingester.data(e.INGEST, {"events": seed_events()})
    assert result["ingestEvents"]["rejected"] == []


def _integration_last_runs() -> dict[str, Any]:
    out = dict(LAST_RUN)
    out["i00"] = max(RUN_START.values())
    return out


# tests ------------------------------------------------------------------------------------

FLOW_INTEGRATIONS = f"""query Q({ARGS}, $order: IntegrationOrder) {{
  flow(flowId: "flow-1") {{ integrations({PASS}, orderBy: $order) {{
    totalCount edges {{ cursor node {{ integrationId }} }} nodes {{ integrationId }}
    {PAGE} }} }} }}"""


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_flow_integrations_by_created_at(seeded: None, viewer: Api, direction: str) -> None:
    expected = expected_order(CREATED, direction == "DESC")
    await check_all_ways(
        viewer,
        FLOW_INTEGRATIONS,
        "flow.integrations",
        "integrationId",
        expected,
        {"order": {"field": "CREATED_AT", "direction": direction}},
    )


async def test_flow_integrations_default_order_is_created_at_desc(
    seeded: None, viewer: Api
) -> None:
    data = await viewer.data(FLOW_INTEGRATIONS, {"first": 100})
    ids = [n["integrationId"] for n in data["flow"]["integrations"]["nodes"]]
    assert ids == expected_order(CREATED, True)
    # ties on createdAt come by id, in the order's direction
    assert ids[:2] == ["i10", "i09"]


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_flow_integrations_by_last_run_start_nulls_last(
    seeded: None, viewer: Api, direction: str
) -> None:
    expected = expected_order(_integration_last_runs(), direction == "DESC")
    assert expected[-1] in {"i01", "i09"}  # a never-run one is last in both directions
    await check_all_ways(
        viewer,
        FLOW_INTEGRATIONS,
        "flow.integrations",
        "integrationId",
        expected,
        {"order": {"field": "LAST_RUN_START", "direction": direction}},
    )


INTEGRATION_RUNS = f"""query Q({ARGS}, $order: RunOrder) {{
  integration(integrationId: "i00") {{ runs({PASS}, orderBy: $order) {{
    totalCount edges {{ cursor node {{ runId }} }} nodes {{ runId }} {PAGE} }} }} }}"""


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_integration_runs_by_start_time(seeded: None, viewer: Api, direction: str) -> None:
    expected = expected_order(RUN_START, direction == "DESC")
    await check_all_ways(
        viewer,
        INTEGRATION_RUNS,
        "integration.runs",
        "runId",
        expected,
        {"order": {"field": "START_TIME", "direction": direction}},
    )


async def test_integration_runs_default_order(seeded: None, viewer: Api) -> None:
    data = await viewer.data(INTEGRATION_RUNS, {})
    assert [n["runId"] for n in data["integration"]["runs"]["nodes"]] == expected_order(
        RUN_START, True
    )[:10]


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_integration_runs_by_duration_nulls_last(
    seeded: None, viewer: Api, direction: str
) -> None:
    expected = expected_order(RUN_DURATION, direction == "DESC")
    nulls = [r for r, d in RUN_DURATION.items() if d is None]
    assert set(expected[-len(nulls) :]) == set(nulls)
    await check_all_ways(
        viewer,
        INTEGRATION_RUNS,
        "integration.runs",
        "runId",
        expected,
        {"order": {"field": "DURATION", "direction": direction}},
    )


FLOW_RUNS = f"""query Q({ARGS}, $order: RunOrder) {{
  flow(flowId: "flow-1") {{ runs({PASS}, orderBy: $order) {{
    totalCount edges {{ cursor node {{ runId }} }} nodes {{ runId }} {PAGE} }} }} }}"""

ROOT_RUNS = f"""query Q({ARGS}, $order: RunOrder) {{ runs({PASS}, orderBy: $order) {{
    totalCount edges {{ cursor node {{ runId }} }} nodes {{ runId }} {PAGE} }} }}"""


def _all_run_starts() -> dict[str, Any]:
    out: dict[str, Any] = dict(RUN_START)
    for iid, start in LAST_RUN.items():
        if start is not None and iid != "i00":
            out[f"run-{iid}"] = start
    return out


def _all_run_durations() -> dict[str, Any]:
    out: dict[str, Any] = dict(RUN_DURATION)
    for iid, start in LAST_RUN.items():
        if start is not None and iid != "i00":
            out[f"run-{iid}"] = None
    return out


@pytest.mark.parametrize(("query", "path"), [(FLOW_RUNS, "flow.runs"), (ROOT_RUNS, "runs")])
@pytest.mark.parametrize(
    ("field", "values"), [("START_TIME", _all_run_starts), ("DURATION", _all_run_durations)]
)
@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_flow_and_account_runs(
    seeded: None,
    viewer: Api,
    query: str,
    path: str,
    field: str,
    values: Callable[[], dict[str, Any]],
    direction: str,
) -> None:
    expected = expected_order(values(), direction == "DESC")
    await check_all_ways(
        viewer, query, path, "runId", expected, {"order": {"field": field, "direction": direction}}
    )


RUN_STEPS = f"""query Q($first: Int, $after: String) {{
  run(runId: "r00") {{ steps(first: $first, after: $after) {{
    totalCount edges {{ cursor node {{ stepId position }} }} nodes {{ stepId position }}
    {PAGE} }} }} }}"""


async def test_run_steps_forward_in_position_order(seeded: None, viewer: Api) -> None:
    for size in (1, 2, 3, 7):
        assert await walk_forward(viewer, RUN_STEPS, "run.steps", "stepId", size) == STEPS


ROOT_FLOWS = f"""query Q({ARGS}) {{ flows({PASS}) {{
    totalCount edges {{ cursor node {{ flowId }} }} nodes {{ flowId }} {PAGE} }} }}"""


async def test_root_flows_newest_first_with_ties(ingester: Api, viewer: Api) -> None:
    created = {f"f{n}": (n // 2) * 5 for n in range(7)}
    batch = [e.flow(fid, f"Flow {fid}", t=t) for fid, t in created.items()]
    await ingester.data(e.INGEST, {"events": batch})
    await check_all_ways(viewer, ROOT_FLOWS, "flows", "flowId", expected_order(created, True))


async def test_new_integrations_do_not_shift_the_next_page(
    seeded: None, ingester: Api, viewer: Api
) -> None:
    expected = expected_order(CREATED, True)
    first = await viewer.data(FLOW_INTEGRATIONS, {"first": 4})
    page1 = check_page(first["flow"]["integrations"], "integrationId")
    assert page1 == expected[:4]
    newer = [e.integration(f"new-{n}", "flow-1", t=500 + n) for n in range(5)]
    # also one tied with the newest existing createdAt but sorting before the cursor row
    newer.append(e.integration("i99", "flow-1", t=CREATED["i10"]))
    await ingester.data(e.INGEST, {"events": newer})
    cursor = first["flow"]["integrations"]["pageInfo"]["endCursor"]
    second = await viewer.data(FLOW_INTEGRATIONS, {"first": 4, "after": cursor})
    assert check_page(second["flow"]["integrations"], "integrationId") == expected[4:8]
    assert second["flow"]["integrations"]["totalCount"] == len(CREATED) + 6


async def test_nulls_last_across_page_boundaries(seeded: None, viewer: Api) -> None:
    """A cursor on a null sort value continues with the other nulls, in both directions."""
    for direction in ("ASC", "DESC"):
        expected = expected_order(RUN_DURATION, direction == "DESC")
        order = {"field": "DURATION", "direction": direction}
        first_null = next(i for i, r in enumerate(expected) if RUN_DURATION[r] is None)
        # a page ending on the first null, then the rest
        data = await viewer.data(INTEGRATION_RUNS, {"first": first_null + 1, "order": order})
        conn = data["integration"]["runs"]
        assert check_page(conn, "runId") == expected[: first_null + 1]
        rest = await viewer.data(
            INTEGRATION_RUNS, {"first": 100, "order": order, "after": conn["pageInfo"]["endCursor"]}
        )
        assert check_page(rest["integration"]["runs"], "runId") == expected[first_null + 1 :]
        # and backwards from the last null
        back = await viewer.data(
            INTEGRATION_RUNS, {"last": 100, "order": order, "before": conn["pageInfo"]["endCursor"]}
        )
        assert check_page(back["integration"]["runs"], "runId") == expected[:first_null]


async def test_after_and_before_together(seeded: None, viewer: Api) -> None:
    expected = expected_order(RUN_START, True)
    full = await viewer.data(INTEGRATION_RUNS, {"first": 100})
    cursors = [edge["cursor"] for edge in full["integration"]["runs"]["edges"]]
    data = await viewer.data(
        INTEGRATION_RUNS, {"first": 100, "after": cursors[1], "before": cursors[6]}
    )
    assert check_page(data["integration"]["runs"], "runId") == expected[2:6]
    data = await viewer.data(
        INTEGRATION_RUNS, {"last": 2, "after": cursors[1], "before": cursors[6]}
    )
    assert check_page(data["integration"]["runs"], "runId") == expected[4:6]


async def test_empty_connection(ingester: Api, viewer: Api) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow("empty")]})
    data = await viewer.data("""{ flow(flowId: "empty") { integrations { totalCount edges {
        cursor } nodes { integrationId } pageInfo { hasNextPage hasPreviousPage startCursor
        endCursor } } runs(last: 5) { totalCount nodes { runId } pageInfo { hasNextPage
        hasPreviousPage } } } }""")
    assert data["flow"]["integrations"] == {
        "totalCount": 0,
        "edges": [],
        "nodes": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }
    assert data["flow"]["runs"]["nodes"] == []
    assert data["flow"]["runs"]["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False}


# errors -----------------------------------------------------------------------------------


async def test_cursor_of_another_order_is_bad_user_input(seeded: None, viewer: Api) -> None:
    data = await viewer.data(INTEGRATION_RUNS, {"first": 2})
    cursor = data["integration"]["runs"]["pageInfo"]["endCursor"]
    for order in (
        {"field": "DURATION", "direction": "DESC"},
        {"field": "START_TIME", "direction": "ASC"},
    ):
        for arg in ("after", "before"):
            codes = await viewer.error_codes(INTEGRATION_RUNS, {arg: cursor, "order": order})
            assert codes == ["BAD_USER_INPUT"]
    # a run cursor on the integration list
    codes = await viewer.error_codes(FLOW_INTEGRATIONS, {"after": cursor})
    assert codes == ["BAD_USER_INPUT"]
    # a run cursor on steps
    codes = await viewer.error_codes(RUN_STEPS, {"after": cursor})
    assert codes == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "query", [FLOW_INTEGRATIONS, INTEGRATION_RUNS, FLOW_RUNS, ROOT_RUNS, ROOT_FLOWS]
)
@pytest.mark.parametrize(
    "variables",
    [
        {"after": "garbage"},
        {"before": "!!!"},
        {"after": "eyJ4IjoxfQ"},
        {"first": 2, "last": 2},
        {"first": 0},
        {"first": 101},
        {"last": 0},
        {"last": 101},
        {"first": -1},
    ],
)
async def test_bad_arguments(
    seeded: None, viewer: Api, query: str, variables: dict[str, Any]
) -> None:
    assert await viewer.error_codes(query, variables) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("variables", [{"after": "garbage"}, {"first": 0}, {"first": 101}])
async def test_bad_step_arguments(seeded: None, viewer: Api, variables: dict[str, Any]) -> None:
    assert await viewer.error_codes(RUN_STEPS, variables) == ["BAD_USER_INPUT"]


async def test_page_size_bounds_are_inclusive(seeded: None, viewer: Api) -> None:
    for variables in ({"first": 1}, {"first": 100}, {"last": 1}, {"last": 100}):
        await viewer.data(INTEGRATION_RUNS, variables)
