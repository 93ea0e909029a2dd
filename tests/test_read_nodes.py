"""Global IDs, node/nodes, root lookups, and tenant isolation by every read path."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.services import Services
from tests import events as e
from tests.conftest import Api, api_client


def gid(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def seed(tag: str) -> list[dict[str, Any]]:
    """The same engine IDs in every account; names and users tell the accounts apart."""
    return [
        e.ev("appUpserted", 0, appId="slack", name=f"Slack {tag}"),
        e.flow("flow-1", f"Flow {tag}"),
        e.integration("int-1", "flow-1", user_id=f"user-{tag}", userAuth=f"auth-{tag}"),
        e.run_started("run-1", "int-1", 10, app="slack"),
        e.step_finished(
            "step-1",
            "run-1",
            1,
            11,
            12,
            status="FAILED",
            code=500,
            payload={"request": {"method": "GET", "url": f"https://x/{tag}"}},
        ),
        e.run_finished("run-1", "FAILED", 13),
    ]


@pytest.fixture
async def seeded(ingester: Api) -> None:
    result = await ingester.data(e.INGEST, {"events": seed("mine")})
    assert result["ingestEvents"]["rejected"] == []


FIELDS = """id
  ... on Flow { flowId name }
  ... on Integration { integrationId userId }
  ... on Run { runId }
  ... on Step { stepId }"""


async def test_global_ids_round_trip(seeded: None, viewer: Api) -> None:
    data = await viewer.data("""{ flow(flowId: "flow-1") { id flowId } integration(
        integrationId: "int-1") { id integrationId } run(runId: "run-1") { id runId }
        step(stepId: "step-1") { id stepId } }""")
    expected = {
        "flow": ("Flow", "flowId"),
        "integration": ("Integration", "integrationId"),
        "run": ("Run", "runId"),
        "step": ("Step", "stepId"),
    }
    ids = []
    for field, (type_name, key) in expected.items():
        obj = data[field]
        assert obj["id"] == gid(f"{type_name}:{obj[key]}")
        node = await viewer.data(
            f"query Q($id: ID!) {{ node(id: $id) {{ __typename {FIELDS} }} }}", {"id": obj["id"]}
        )
        assert node["node"]["__typename"] == type_name
        assert node["node"]["id"] == obj["id"]
        assert node["node"][key] == obj[key]
        ids.append(obj["id"])
    data = await viewer.data(
        f"query Q($ids: [ID!]!) {{ nodes(ids: $ids) {{ __typename {FIELDS} }} }}",
        {"ids": [*ids, gid("Run:nope"), ids[0]]},
    )
    assert [n and n["__typename"] for n in data["nodes"]] == [
        "Flow",
        "Integration",
        "Run",
        "Step",
        None,
        "Flow",
    ]


async def test_nested_ids_match_node(seeded: None, viewer: Api) -> None:
    data = await viewer.data("""{ flow(flowId: "flow-1") { integrations { nodes { id
        flow { id } runs { nodes { id integration { id } failedStep { id run { id } }
        steps { nodes { id } } } } } } } }""")
    integ = data["flow"]["integrations"]["nodes"][0]
    assert integ["id"] == gid("Integration:int-1")
    run = integ["runs"]["nodes"][0]
    assert run["id"] == gid("Run:run-1")
    assert run["integration"]["id"] == integ["id"]
    assert run["failedStep"] == {"id": gid("Step:step-1"), "run": {"id": run["id"]}}
    assert run["steps"]["nodes"] == [{"id": gid("Step:step-1")}]


@pytest.mark.parametrize(
    "bad",
    [
        "!!!",
        "é",
        "",
        gid("NoColon"),
        gid(":x"),
        gid("Run:"),
        "%%%%",
        base64.urlsafe_b64encode(b"\xff\xfe:x").decode(),
    ],
)
async def test_undecodable_id_is_bad_user_input(seeded: None, viewer: Api, bad: str) -> None:
    codes = await viewer.error_codes("query Q($id: ID!) { node(id: $id) { id } }", {"id": bad})
    assert codes == ["BAD_USER_INPUT"]
    codes = await viewer.error_codes(
        "query Q($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [gid("Flow:flow-1"), bad]}
    )
    assert codes == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "raw",
    [
        "Run:flow-1",
        "Flow:run-1",
        "Step:int-1",
        "Integration:run-1",
        "Account:x",
        "App:slack",
        "Widget:flow-1",
        "flow:flow-1",
        "Flow:FLOW-1",
        "Flow:flow-2",
    ],
)
async def test_wrong_type_or_unknown_is_null(seeded: None, viewer: Api, raw: str) -> None:
    data = await viewer.data("query Q($id: ID!) { node(id: $id) { id } }", {"id": gid(raw)})
    assert data == {"node": None}


async def test_root_lookups_of_unknown_ids_are_null(seeded: None, viewer: Api) -> None:
    data = await viewer.data("""{ flow(flowId: "nope") { id } integration(integrationId: "nope")
        { id } run(runId: "nope") { id } step(stepId: "nope") { id }
        f2: flow(flowId: "FLOW-1") { id } r2: run(runId: "int-1") { id } }""")
    assert data == {
        "flow": None,
        "integration": None,
        "run": None,
        "step": None,
        "f2": None,
        "r2": None,
    }


async def test_nodes_takes_at_most_100(seeded: None, viewer: Api) -> None:
    ids = [gid(f"Flow:f{i}") for i in range(101)]
    codes = await viewer.error_codes(
        "query Q($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}
    )
    assert codes in (["BAD_USER_INPUT"], ["QUERY_TOO_COMPLEX"])


# tenant isolation --------------------------------------------------------------------------


@pytest.fixture
async def other(app_and_services: tuple[Any, Services]) -> AsyncIterator[tuple[Api, Api]]:
    """Another account (ingest and viewer clients) with the same engine IDs."""
    account = f"acct-other-{uuid.uuid4().hex[:8]}"
    async with (
        api_client(app_and_services, account, "ingest") as ingest,
        api_client(app_and_services, account, "viewer") as view,
    ):
        yield ingest, view


EVERYTHING = """query Q($search: String) {{
  flow(flowId: "flow-1") {{ name stats {{ integrationCount failingCount tasksConsumed
      runsLast24h statusCounts {{ status count }} }}
    integrations(search: $search) {{ totalCount nodes {{ userId userAuth
      runs {{ totalCount nodes {{ runId triggerApp {{ name }} failedStep {{ stepId }}
        steps {{ totalCount nodes {{ stepId payload {{ request {{ url }} }} }} }} }} }} }} }}
    runs {{ totalCount nodes {{ runId integration {{ userId }} }} }} }}
  integration(integrationId: "int-1") {{ userId flow {{ name }} }}
  run(runId: "run-1") {{ triggerApp {{ name }} integration {{ userId }} }}
  step(stepId: "step-1") {{ payload {{ request {{ url }} }} run {{ integration {{ userId }} }} }}
  flows {{ totalCount nodes {{ name }} }}
  runs(search: $search) {{ totalCount nodes {{ integration {{ userId }} }} }}
  byApp: runs(search: "slack mine") {{ totalCount }}
  byApp2: runs(search: "slack other") {{ totalCount }}
  n1: node(id: "{}") {{ ... on Flow {{ name }} }}
  n2: node(id: "{}") {{ ... on Integration {{ userId }} }}
  n3: node(id: "{}") {{ ... on Run {{ integration {{ userId }} }} }}
  n4: node(id: "{}") {{ ... on Step {{ payload {{ request {{ url }} }} }} }}
}}""".format(gid("Flow:flow-1"), gid("Integration:int-1"), gid("Run:run-1"), gid("Step:step-1"))


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


async def test_accounts_with_the_same_ids_never_see_each_other(
    seeded: None, viewer: Api, other: tuple[Api, Api]
) -> None:
    other_ingest, other_viewer = other
    result = await other_ingest.data(
        e.INGEST,
        {
            "events": [
                *seed("other"),
                e.integration("int-2", "flow-1", user_id="only-other", t=2),
                e.run_started("run-2", "int-2", 20, app="slack"),
            ]
        },
    )
    assert result["ingestEvents"]["rejected"] == []

    for api, me, them in ((viewer, "mine", "other"), (other_viewer, "other", "mine")):
        for search in (None, f"user-{me}", f"auth-{me}"):
            data = await api.data(EVERYTHING, {"search": search})
            texts = " ".join(_strings(data))
            assert them not in texts, data
            assert me in texts
        data = await api.data(EVERYTHING, {"search": None})
        integrations = 1 if me == "mine" else 2
        runs = 1 if me == "mine" else 2
        assert data["flow"]["stats"]["integrationCount"] == integrations
        assert data["flow"]["stats"]["failingCount"] == 1
        assert data["flow"]["integrations"]["totalCount"] == integrations
        assert data["flow"]["runs"]["totalCount"] == runs
        assert data["runs"]["totalCount"] == runs
        assert data["flows"]["totalCount"] == 1
        assert data[f"byApp{'' if me == 'mine' else '2'}"]["totalCount"] == runs
        assert data[f"byApp{'2' if me == 'mine' else ''}"]["totalCount"] == 0
        assert data["n2"] == {"userId": f"user-{me}"}
        assert data["n4"] == {"payload": {"request": {"url": f"https://x/{me}"}}}
        # searching for the other account's values finds nothing
        data = await api.data(EVERYTHING, {"search": f"user-{them}"})
        assert data["flow"]["integrations"]["totalCount"] == 0
        assert data["runs"]["totalCount"] == 0

    # the other account's own objects do not exist for mine
    data = await viewer.data(
        """query Q($id: ID!, $sid: ID!) { integration(integrationId:
        "int-2") { id } run(runId: "run-2") { id } node(id: $id) { id }
        s: node(id: $sid) { id } nodes(ids: [$id, $sid]) { id } }""",
        {"id": gid("Integration:int-2"), "sid": gid("Run:run-2")},
    )
    assert data == {
        "integration": None,
        "run": None,
        "node": None,
        "s": None,
        "nodes": [None, None],
    }
    data = await viewer.data("""{ runs(search: "run-2") { totalCount }
        flow(flowId: "flow-1") { integrations(search: "only-other") { totalCount }
        runs(filter: {status: [RUNNING]}) { totalCount } } }""")
    assert data == {
        "runs": {"totalCount": 0},
        "flow": {"integrations": {"totalCount": 0}, "runs": {"totalCount": 0}},
    }


async def test_cursors_do_not_leak_across_accounts(
    seeded: None, viewer: Api, other: tuple[Api, Api]
) -> None:
    """A cursor is only a position: used by another account it pages that account's rows."""
    other_ingest, other_viewer = other
    await other_ingest.data(e.INGEST, {"events": seed("other")})
    data = await viewer.data("{ runs(first: 1) { pageInfo { endCursor } } }")
    cursor = data["runs"]["pageInfo"]["endCursor"]
    data = await other_viewer.data(
        "query Q($c: String) { runs(last: 5, before: $c) { nodes { runId } } "
        "r: runs(first: 5, after: $c) { nodes { runId } } }",
        {"c": cursor},
    )
    assert data == {"runs": {"nodes": []}, "r": {"nodes": []}}
