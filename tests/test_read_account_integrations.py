"""Query.integrations (across every flow of the account) and how integration search matches:
integrationId and userId exactly, userAuth whole and ignoring case (Unicode case folding)."""

from __future__ import annotations

from typing import Any

import pytest

from tests import events as e
from tests.conftest import Api, api_client


def seed() -> list[dict[str, Any]]:
    return [
        e.flow("flow-1", "Sync contacts", t=0),
        e.flow("flow-2", "Export deals", t=0),
        e.integration("int-a", "flow-1", user_id="ann", t=100, userAuth="Ann@Example.com"),
        e.integration("int-b", "flow-2", user_id="ann", t=200, userAuth="ann@example.COM"),
        e.integration("int-c", "flow-1", user_id="jürgen", t=300, userAuth="Jürgen.Groß@Web.de"),
        e.integration("int-d", "flow-2", user_id="Σίσυφος", t=400, userAuth="ΣΊΣΥΦΟΣ@example.gr"),
        e.integration("int-e", "flow-2", user_id="pat", t=500, userAuth="100%_pat@example.com"),
        e.integration("int-f", "flow-1", user_id="ANN", t=600, status="INITIALIZING"),
        e.run_started("run-b", "int-b", 1000),
        e.run_finished("run-b", "FAILED", 1010),
        e.run_started("run-e", "int-e", 2000),
        e.run_finished("run-e", "OK", 2010),
        e.run_started("run-a", "int-a", 1500),
    ]


@pytest.fixture
async def seeded(ingester: Api) -> None:
    result = await ingester.data(e.INGEST, {"events": seed()})
    assert result["ingestEvents"]["rejected"] == []


ROOT = """query Q($search: String, $filter: IntegrationFilter, $order: IntegrationOrder,
  $first: Int, $after: String, $last: Int, $before: String) {
  integrations(search: $search, filter: $filter, orderBy: $order, first: $first,
    after: $after, last: $last, before: $before) {
    totalCount nodes { integrationId flow { flowId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""

IN_FLOW = """query Q($flow: String!, $search: String) { flow(flowId: $flow) {
  integrations(search: $search, first: 100) { totalCount nodes { integrationId } } } }"""


async def root(api: Api, **variables: Any) -> dict[str, Any]:
    data = await api.data(ROOT, variables)
    connection: dict[str, Any] = data["integrations"]
    return connection


def ids(connection: dict[str, Any]) -> list[str]:
    return [n["integrationId"] for n in connection["nodes"]]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        # userAuth: whole, any case, Unicode case folding (ß = ss, final sigma, accents kept)
        ("ann@example.com", ["int-b", "int-a"]),
        ("ANN@EXAMPLE.COM", ["int-b", "int-a"]),
        ("jürgen.groß@web.de", ["int-c"]),
        ("JÜRGEN.GROSS@WEB.DE", ["int-c"]),
        ("jurgen.gross@web.de", []),
        ("σίσυφος@EXAMPLE.GR", ["int-d"]),
        ("100%_PAT@example.com", ["int-e"]),
        ("100%", []),
        ("%", []),
        ("_", []),
        ("ann@example", []),
        # userId and integrationId: exact, case-sensitive
        ("ann", ["int-b", "int-a"]),
        ("ANN", ["int-f"]),
        ("Ann", []),
        ("σίσυφος", []),
        ("Σίσυφος", ["int-d"]),
        ("int-c", ["int-c"]),
        ("INT-C", []),
        ("", ["int-f", "int-e", "int-d", "int-c", "int-b", "int-a"]),
    ],
)
async def test_search_across_flows(
    seeded: None, viewer: Api, search: str, expected: list[str]
) -> None:
    connection = await root(viewer, search=search, first=100)
    assert ids(connection) == expected
    assert connection["totalCount"] == len(expected)


async def test_search_within_a_flow_ignores_the_case_of_user_auth(
    seeded: None, viewer: Api
) -> None:
    for flow, expected in (("flow-1", ["int-a"]), ("flow-2", ["int-b"])):
        data = await viewer.data(IN_FLOW, {"flow": flow, "search": "ANN@EXAMPLE.COM"})
        integrations = data["flow"]["integrations"]
        assert ids(integrations) == expected
        assert integrations["totalCount"] == 1
    data = await viewer.data(IN_FLOW, {"flow": "flow-1", "search": "JÜRGEN.GROSS@WEB.DE"})
    assert ids(data["flow"]["integrations"]) == ["int-c"]


async def test_keyset_pages_forward_and_back(seeded: None, viewer: Api) -> None:
    every = ["int-f", "int-e", "int-d", "int-c", "int-b", "int-a"]
    seen: list[str] = []
    after = None
    while True:
        page = await root(viewer, first=4, after=after)
        assert page["totalCount"] == 6
        seen += ids(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == every
    last = await root(viewer, last=2)
    assert ids(last) == ["int-b", "int-a"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    before = await root(viewer, last=3, before=last["pageInfo"]["startCursor"])
    assert ids(before) == ["int-e", "int-d", "int-c"]
    assert before["pageInfo"] == {
        **before["pageInfo"],
        "hasPreviousPage": True,
        "hasNextPage": True,
    }


async def test_filter_and_order(seeded: None, viewer: Api) -> None:
    asc = {"field": "CREATED_AT", "direction": "ASC"}
    page = await root(viewer, order=asc, first=3)
    assert ids(page) == ["int-a", "int-b", "int-c"]
    # nulls (never ran) last in both directions
    for direction, ran in (
        ("DESC", ["int-e", "int-a", "int-b"]),
        ("ASC", ["int-b", "int-a", "int-e"]),
    ):
        order = {"field": "LAST_RUN_START", "direction": direction}
        page = await root(viewer, order=order, first=100)
        assert ids(page)[:3] == ran
        assert sorted(ids(page)[3:]) == ["int-c", "int-d", "int-f"]
    failed = await root(viewer, filter={"lastRunStatus": ["FAILED", "RUNNING"]})
    assert ids(failed) == ["int-b", "int-a"]
    assert failed["totalCount"] == 2
    status = await root(viewer, filter={"status": ["INITIALIZING"]}, search="ANN")
    assert ids(status) == ["int-f"]
    flows = {n["integrationId"]: n["flow"]["flowId"] for n in (await root(viewer))["nodes"]}
    assert flows["int-a"] == "flow-1"
    assert flows["int-b"] == "flow-2"


async def test_other_accounts_integrations_are_invisible(
    app_and_services: Any, seeded: None, viewer: Api
) -> None:
    async with (
        api_client(app_and_services, "acct-other-" + viewer.account_id, "ingest") as other,
        api_client(app_and_services, "acct-other-" + viewer.account_id, "viewer") as other_viewer,
    ):
        result = await other.data(
            e.INGEST,
            {
                "events": [
                    e.flow("flow-1", "Theirs"),
                    e.integration("int-a", "flow-1", user_id="ann", userAuth="ann@example.com"),
                    e.integration("int-z", "flow-1", user_id="zed"),
                ]
            },
        )
        assert result["ingestEvents"]["rejected"] == []
        theirs = await root(other_viewer, search="ANN@example.com")
        assert ids(theirs) == ["int-a"]
        assert (await root(other_viewer))["totalCount"] == 2
    ours = await root(viewer, first=100)
    assert ids(ours) == ["int-f", "int-e", "int-d", "int-c", "int-b", "int-a"]
    assert await root(viewer, search="zed") == {
        "totalCount": 0,
        "nodes": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


async def test_a_user_auth_that_folds_longer_than_itself(ingester: Api, viewer: Api) -> None:
    # "ẞ" folds to "ss": 256 characters are stored as 512, and still found whole
    auth = "ẞ" * 256
    result = await ingester.data(
        e.INGEST, {"events": [e.flow("flow-1"), e.integration("int-1", userAuth=auth)]}
    )
    assert result["ingestEvents"]["rejected"] == []
    found = await root(viewer, search="ß" * 256)
    assert ids(found) == ["int-1"]
    assert ids(await root(viewer, search="ß" * 255)) == []
