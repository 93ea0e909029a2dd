"""End-users: lookups, tasks across flows, Flow.endUsers, status (SPEC §3, §8 "EndUser")."""

from __future__ import annotations

import base64
from typing import Any

from tests import events as e
from tests.conftest import Api

USER = """query($u: String!) { endUser(userId: $u) { id userId tasksConsumed taskLimit
  tasksRemaining limitPeriodDays limitResetsAt status
  integrations { totalCount nodes { integrationId status } } } }"""

FLOW_USERS = """query($f: String!, $first: Int, $after: String) { flow(flowId: $f) {
  endUsers(first: $first, after: $after) { totalCount
    edges { cursor node { userId } } pageInfo { hasNextPage endCursor } } } }"""

ODD_USERS = [
    "ann@example.com",
    "Jean Dupont",
    "  leading and trailing  ",
    "Zoë 🦊 ünïcödé",
    "用户 42",
]


async def _ingest(ingester: Api, batch: list[Any]) -> dict[str, Any]:
    result: dict[str, Any] = (await ingester.data(e.INGEST, {"events": batch}))["ingestEvents"]
    assert result["rejected"] == [], result["rejected"]
    return result


async def _user(api: Api, user_id: str) -> dict[str, Any] | None:
    user: dict[str, Any] | None = (await api.data(USER, {"u": user_id}))["endUser"]
    return user


def _ok_steps(run_id: str, count: int, start: float) -> list[Any]:
    return [
        e.step_finished(f"{run_id}-s{p}", run_id, p, start + p, start + p + 0.5)
        for p in range(1, count + 1)
    ]


async def test_lookup_by_odd_user_ids(ingester: Api, viewer: Api) -> None:
    batch: list[Any] = [e.flow()]
    for n, user_id in enumerate(ODD_USERS):
        batch.append(e.integration(f"int-{n}", user_id=user_id))
    await _ingest(ingester, batch)
    for n, user_id in enumerate(ODD_USERS):
        user = await _user(viewer, user_id)
        assert user is not None, user_id
        assert user["userId"] == user_id
        assert user["status"] == "ACTIVE"
        assert user["tasksConsumed"] == 0
        assert user["taskLimit"] is None
        assert user["tasksRemaining"] is None
        assert user["limitPeriodDays"] is None
        assert user["limitResetsAt"] is None
        assert [i["integrationId"] for i in user["integrations"]["nodes"]] == [f"int-{n}"]
        # node(id) round trip
        data = await viewer.data(
            "query($id: ID!) { node(id: $id) { __typename id ... on EndUser { userId } } }",
            {"id": user["id"]},
        )
        assert data["node"] == {"__typename": "EndUser", "id": user["id"], "userId": user_id}
        data = await viewer.data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { ... on EndUser { userId } } }",
            {"ids": [user["id"]]},
        )
        assert data["nodes"] == [{"userId": user_id}]


async def test_unknown_end_user_is_null(ingester: Api, viewer: Api) -> None:
    await _ingest(ingester, [e.flow(), e.integration("int-1", user_id="ann@example.com")])
    for user_id in ("nobody@example.com", "ANN@example.com", "ann@example.com ", "", "x" * 300):
        assert await _user(viewer, user_id) is None, user_id
    gid = base64.urlsafe_b64encode(b"EndUser:nobody").decode().rstrip("=")
    data = await viewer.data("query($id: ID!) { node(id: $id) { id } }", {"id": gid})
    assert data["node"] is None


async def test_other_accounts_end_user_is_invisible(
    app_and_services: Any, ingester: Api, viewer: Api
) -> None:
    from tests.conftest import api_client

    await _ingest(ingester, [e.flow(), e.integration("int-1", user_id="ann@example.com")])
    user = await _user(viewer, "ann@example.com")
    assert user is not None
    async with api_client(app_and_services, "acct-other-eu", "viewer") as other:
        assert await _user(other, "ann@example.com") is None
        data = await other.data("query($id: ID!) { node(id: $id) { id } }", {"id": user["id"]})
        assert data["node"] is None
        codes = await other.error_codes(
            'mutation { setTaskLimit(userId: "ann@example.com", limit: 3) { userId } }'
        )
        assert codes == ["FORBIDDEN"]
    async with api_client(app_and_services, "acct-other-eu", "admin") as other_admin:
        codes = await other_admin.error_codes(
            'mutation { setTaskLimit(userId: "ann@example.com", limit: 3) { userId } }'
        )
        assert codes == ["NOT_FOUND"]


async def test_tasks_summed_across_flows(ingester: Api, viewer: Api) -> None:
    batch: list[Any] = [
        e.flow("flow-a"),
        e.flow("flow-b"),
        e.integration("a-1", "flow-a", user_id="ann@example.com"),
        e.integration("b-1", "flow-b", user_id="ann@example.com"),
        e.integration("b-2", "flow-b", user_id="bob@example.com"),
        e.run_started("ra", "a-1", 10),
        e.run_started("rb", "b-1", 20),
        e.run_started("rc", "b-2", 30),
    ]
    batch += _ok_steps("ra", 2, 10) + _ok_steps("rb", 3, 20) + _ok_steps("rc", 1, 30)
    batch.append(e.step_finished("rb-failed", "rb", 4, 25, 26, status="FAILED"))
    await _ingest(ingester, batch)
    ann = await _user(viewer, "ann@example.com")
    assert ann is not None
    assert ann["tasksConsumed"] == 5
    assert ann["integrations"]["totalCount"] == 2
    assert {i["integrationId"] for i in ann["integrations"]["nodes"]} == {"a-1", "b-1"}
    bob = await _user(viewer, "bob@example.com")
    assert bob is not None
    assert bob["tasksConsumed"] == 1
    # A later batch, a repeated stepFinished turning OK into FAILED corrects by the difference.
    await _ingest(ingester, [e.step_finished("ra-s1", "ra", 1, 11, 11.5, status="FAILED")])
    ann = await _user(viewer, "ann@example.com")
    assert ann is not None
    assert ann["tasksConsumed"] == 4


async def test_steps_before_run_started_count_for_the_user(ingester: Api, viewer: Api) -> None:
    await _ingest(ingester, [e.flow(), e.integration("int-1", user_id="ann@example.com")])
    await _ingest(ingester, _ok_steps("r1", 3, 10))
    user = await _user(viewer, "ann@example.com")
    assert user is not None
    assert user["tasksConsumed"] == 0
    await _ingest(ingester, [e.run_started("r1", "int-1", 10)])
    user = await _user(viewer, "ann@example.com")
    assert user is not None
    assert user["tasksConsumed"] == 3


async def test_flow_end_users_most_recent_first_with_paging(ingester: Api, viewer: Api) -> None:
    batch: list[Any] = [e.flow("flow-a"), e.flow("flow-b")]
    # Created at t=1..5: u0 oldest, u4 newest.
    for n in range(5):
        batch.append(e.integration(f"a-{n}", "flow-a", user_id=f"u{n}", t=1 + n))
    # A user only in flow-b is not listed in flow-a.
    batch.append(e.integration("b-x", "flow-b", user_id="only-b", t=50))
    # u1 becomes the most recent by a run start; u0 by an integration in another flow.
    batch.append(e.run_started("r-u1", "a-1", 100))
    batch.append(e.integration("b-0", "flow-b", user_id="u0", t=80))
    await _ingest(ingester, batch)
    expected = ["u1", "u0", "u4", "u3", "u2"]
    data = await viewer.data(FLOW_USERS, {"f": "flow-a"})
    users = data["flow"]["endUsers"]
    assert users["totalCount"] == 5
    assert [edge["node"]["userId"] for edge in users["edges"]] == expected
    assert users["pageInfo"]["hasNextPage"] is False
    seen: list[str] = []
    after = None
    while True:
        page = (await viewer.data(FLOW_USERS, {"f": "flow-a", "first": 2, "after": after}))["flow"][
            "endUsers"
        ]
        assert page["totalCount"] == 5
        seen += [edge["node"]["userId"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    data = await viewer.data(FLOW_USERS, {"f": "flow-b"})
    assert [edge["node"]["userId"] for edge in data["flow"]["endUsers"]["edges"]] == [
        "u0",
        "only-b",
    ]
    assert data["flow"]["endUsers"]["totalCount"] == 2
    # A late, older run start does not make a user less recent.
    await _ingest(ingester, [e.run_started("r-u1-old", "a-1", 5)])
    data = await viewer.data(FLOW_USERS, {"f": "flow-a", "first": 1})
    assert data["flow"]["endUsers"]["edges"][0]["node"]["userId"] == "u1"


async def test_flow_end_users_page_size_is_checked(ingester: Api, viewer: Api) -> None:
    await _ingest(ingester, [e.flow(), e.integration("int-1", user_id="ann")])
    for first in (0, 101):
        codes = await viewer.error_codes(FLOW_USERS, {"f": "flow-1", "first": first})
        assert codes == ["BAD_USER_INPUT"]


async def test_status_rules(ingester: Api, admin: Api) -> None:
    batch: list[Any] = [
        e.flow(),
        e.integration("a-1", user_id="active"),
        e.integration("a-2", user_id="active", status="INITIALIZING"),
        e.integration("i-1", user_id="inactive"),
        e.integration("i-2", user_id="inactive", status="FAILED_TO_INITIALIZE"),
        e.integration("e-1", user_id="errors"),
        e.ev(
            "integrationStatusChanged",
            5,
            integrationId="e-1",
            status="PAUSED",
            reason="TOO_MANY_ERRORS",
        ),
        e.integration("b-1", user_id="billing"),
        e.integration("b-2", user_id="billing"),
        e.ev("integrationStatusChanged", 5, integrationId="b-1", status="PAUSED", reason="BILLING"),
        e.ev("integrationStatusChanged", 5, integrationId="b-2", status="DISABLED"),
    ]
    await _ingest(ingester, batch)
    await admin.data('mutation { disableIntegration(integrationId: "i-1") { status } }')
    statuses = {}
    for user_id in ("active", "inactive", "errors", "billing"):
        user = await _user(admin, user_id)
        assert user is not None
        statuses[user_id] = user["status"]
    assert statuses == {
        "active": "ACTIVE",
        "inactive": "INACTIVE",
        "errors": "INACTIVE",
        "billing": "PAUSED",
    }
    # Any ENABLED integration makes the user ACTIVE, even with one paused for BILLING.
    await admin.data('mutation { enableIntegration(integrationId: "b-2") { status } }')
    user = await _user(admin, "billing")
    assert user is not None
    assert user["status"] == "ACTIVE"
    # Deleted integrations leave a user INACTIVE.
    await admin.data('mutation { deleteIntegration(integrationId: "a-1") { status } }')
    await admin.data('mutation { deleteIntegration(integrationId: "a-2") { status } }')
    user = await _user(admin, "active")
    assert user is not None
    assert user["status"] == "INACTIVE"


async def test_end_user_integrations_connection(ingester: Api, viewer: Api) -> None:
    batch: list[Any] = [e.flow("flow-a"), e.flow("flow-b")]
    for n in range(5):
        flow_id = "flow-a" if n % 2 == 0 else "flow-b"
        batch.append(e.integration(f"i-{n}", flow_id, user_id="ann", t=1 + n))
    batch.append(e.integration("other", "flow-a", user_id="bob", t=9))
    await _ingest(ingester, batch)
    query = """query($after: String) { endUser(userId: "ann") { integrations(first: 2,
      after: $after) { totalCount nodes { integrationId userId flow { flowId } }
      pageInfo { hasNextPage endCursor } } } }"""
    seen: list[str] = []
    after = None
    while True:
        conn = (await viewer.data(query, {"after": after}))["endUser"]["integrations"]
        assert conn["totalCount"] == 5
        assert all(n["userId"] == "ann" for n in conn["nodes"])
        seen += [n["integrationId"] for n in conn["nodes"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == ["i-4", "i-3", "i-2", "i-1", "i-0"]  # newest first
    data = await viewer.data(
        '{ endUser(userId: "ann") { integrations(filter: {status: [ENABLED]}, '
        "orderBy: {field: CREATED_AT, direction: ASC}, first: 1) { nodes { integrationId } } } }"
    )
    assert data["endUser"]["integrations"]["nodes"] == [{"integrationId": "i-0"}]
