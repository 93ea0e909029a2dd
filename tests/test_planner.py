"""The planned executor answers what strawberry answers: the same data and the same errors
(paths, locations, codes, messages, null propagation), on both backends, for the peer bench's
documents, the dashboard's shapes, fragments, directives, aliases and errors; and it costs the
same SQL statements. Operations it does not plan go through strawberry.

Both apps share one database and one account; each request is sent to both with the same
request id, so even masked errors compare equal.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.http.documents import DOCUMENTS, LIMITS
from gateway.http.guard import VALIDATION_RULES
from gateway.schema import schema
from gateway.services import Services
from tests import events as e
from tests.test_read_batching import _MEASURED, ACCOUNT_INTEGRATIONS, DEEP, FLOWS, statements

# The peer bench's documents (Q1 list page, Q2 deep view, Q3 one payload), as the bench sends them.
QUERIES = Path(__file__).resolve().parents[1] / "bench" / "queries"
PEER_DOCUMENTS = {name: (QUERIES / f"{name}.graphql").read_text() for name in ("q1", "q2", "q3")}
# Q2's fields through aliases, fragments and @include.
Q2_FRAGMENTS = (QUERIES / "q2_fragments.graphql").read_text()


def planner_events() -> list[dict[str, Any]]:
    """Two flows (one without integrations), four integrations of different states and
    users, three runs each with three steps: payloads with and without a response, JSON and
    plain bodies, objects, failures and a step without payload."""
    batch: list[dict[str, Any]] = [
        e.ev("appUpserted", 0, appId="slack", name="Slack", docsUrl="https://docs.slack"),
        e.ev("appUpserted", 0, appId="hubspot", name="HubSpot", iconUrl="https://i.hub/x.png"),
        e.flow("flow-1", "Sync contacts"),
        e.flow("flow-2", "Draft flow", status="DRAFT", t=1),
    ]
    users = ["ann@example.com", "bob@example.com", "ann@example.com", "cy@example.com"]
    for i, user in enumerate(users):
        iid = f"int-{i}"
        extra = {"userAuth": f"Auth-{i}@Example.com"} if i % 2 else {}
        batch.append(e.integration(iid, "flow-1", user_id=user, t=2 + i, **extra))
        for r in range(3):
            rid = f"r-{i}-{r}"
            start = 100 + 50 * r + i
            batch.append(e.run_started(rid, iid, start, app="slack" if r % 2 else "hubspot"))
            for s in range(3):
                sid = f"s-{i}-{r}-{s}"
                failed = s == 2 and r == 1
                payload: dict[str, Any] | None = {
                    "request": {
                        "method": "POST",
                        "url": f"https://api.example.com/v1/{s}?token=abc",
                        "headers": [
                            {"name": "Accept", "value": "application/json"},
                            {"name": "Authorization", "value": "Bearer xyz"},
                        ],
                        "body": f'{{"n": {s}, "list": [1, 2]}}' if s != 1 else "plain text",
                    },
                    "objects": [{"key": "contact", "value": {"id": s, "tags": ["a"]}}],
                }
                if not (failed and i == 0):  # one step that never got a response
                    payload["response"] = {
                        "statusCode": 500 if failed else 200,
                        "headers": [{"name": "Content-Type", "value": "application/json"}],
                        "body": '{"error": "boom"}' if failed else '{"ok": true}',
                    }
                if s == 0 and r == 2:
                    payload = None
                batch.append(
                    e.step_finished(
                        sid,
                        rid,
                        s + 1,
                        start + s,
                        start + s + 0.5,
                        status="FAILED" if failed else "OK",
                        code=None if failed and i == 0 else (500 if failed else 200),
                        payload=payload,
                    )
                )
            batch.append(e.run_finished(rid, "FAILED" if r == 1 else "OK", start + 10))
    batch.append(
        e.ev(
            "integrationStatusChanged",
            400,
            integrationId="int-3",
            status="PAUSED",
            reason="TOO_MANY_ERRORS",
        )
    )
    return batch


ACTIONS = [
    'mutation { disableIntegration(integrationId: "int-2") { status } }',
    'mutation { deleteIntegration(integrationId: "int-1") { status } }',
    'mutation { setTaskLimit(userId: "ann@example.com", limit: 3) { userId } }',
]


class Pair:
    """One account seen through two apps on one database: planner on, planner off."""

    def __init__(self, planned: httpx.AsyncClient, strawberry: httpx.AsyncClient) -> None:
        self.planned = planned
        self.strawberry = strawberry

    async def both(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> tuple[tuple[int, Any], tuple[int, Any]]:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        headers = {"X-Request-Id": f"req-{uuid.uuid4().hex[:12]}"}
        answers = []
        for client in (self.planned, self.strawberry):
            response = await client.post("/graphql", json=body, headers=headers)
            answers.append((response.status_code, normalised(response.json())))
        return answers[0], answers[1]

    async def same(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        planned, strawberry = await self.both(query, variables)
        assert planned == strawberry, _diff(planned, strawberry)
        return planned[1]


def normalised(answer: Any) -> Any:
    """Errors in a fixed order: the two executors finish sibling fields in different orders."""
    if isinstance(answer, dict) and answer.get("errors"):
        answer = {
            **answer,
            "errors": sorted(answer["errors"], key=lambda err: orjson.dumps(err).decode()),
        }
    return answer


def _diff(planned: Any, strawberry: Any) -> str:
    return (
        "planned:\n"
        + orjson.dumps(planned, option=orjson.OPT_INDENT_2).decode()[:3000]
        + "\nstrawberry:\n"
        + orjson.dumps(strawberry, option=orjson.OPT_INDENT_2).decode()[:3000]
    )


def planned_apps(settings: Settings) -> tuple[Any, Any]:
    return (
        # Without rate limits: each app's own budget would answer rateLimit differently.
        create_app(settings.model_copy(update={"planner": True, "rate_limits": False})),
        create_app(settings.model_copy(update={"planner": False, "rate_limits": False})),
    )


async def seed(app: Any, account_id: str) -> None:
    services: Services = app.state.services
    key = await create_key(services.db, account_id, "admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as admin:
        body = {"query": e.INGEST, "variables": {"events": planner_events()}}
        answer = (await admin.post("/graphql", json=body)).json()
        assert answer["data"]["ingestEvents"]["rejected"] == [], answer
        for action in ACTIONS:
            answer = (await admin.post("/graphql", json={"query": action})).json()
            assert "errors" not in answer, answer


@pytest.fixture(scope="module")
async def apps(settings: Settings) -> AsyncIterator[tuple[Any, Any, str]]:
    planned, strawberry = planned_apps(settings)
    account_id = f"plan-{uuid.uuid4().hex[:8]}"
    await seed(planned, account_id)
    yield planned, strawberry, account_id
    for app in (planned, strawberry):
        await app.state.services.close()


@pytest.fixture(scope="module")
async def pair(apps: tuple[Any, Any, str]) -> AsyncIterator[Pair]:
    async with clients(apps, "viewer") as both:
        yield both


class clients:
    def __init__(self, apps: tuple[Any, Any, str], role: str) -> None:
        self.apps, self.role = apps, role
        self._clients: list[httpx.AsyncClient] = []

    async def __aenter__(self) -> Pair:
        planned, strawberry, account_id = self.apps
        for app in (planned, strawberry):
            key = await create_key(app.state.services.db, account_id, self.role)
            self._clients.append(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://gateway.test",
                    headers={"Authorization": f"Bearer {key}"},
                )
            )
        return Pair(*self._clients)

    async def __aexit__(self, *_exc: Any) -> None:
        for client in self._clients:
            await client.aclose()


FRAGMENTS = """
query Frag($withRuns: Boolean!, $skipUrl: Boolean = true, $n: Int = 2) {
  flow(flowId: "flow-1") { ...FlowBits }
  second: flow(flowId: "flow-2") { __typename ...FlowBits }
  missing: flow(flowId: "nope") { flowId }
}
fragment FlowBits on Flow {
  id name kind: __typename
  integrations(first: $n) @include(if: $withRuns) {
    edges { cursor node { ...IntegrationBits } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
  alsoIntegrations: integrations(first: 1) { nodes { integrationId url @skip(if: $skipUrl) } }
}
fragment IntegrationBits on Integration {
  integrationId status pausedReason
  ... on Node { id }
  ... @include(if: $withRuns) { runs(first: $n) { nodes { runId logsUrl ... on Run { url } } } }
  flow { ... on Flow { flowId } }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename id
    ... on Flow { flowId flowStatus: status }
    ... on Integration { integrationId lastRunStatus }
    ... on Run { runId networkCode networkCodeText failedStep { stepId } }
    ... on Step { stepId payload { response { statusCode } } }
    ... on EndUser { userId tasksConsumed taskLimit tasksRemaining tasksConsumedInPeriod
                     userStatus: status }
    ...NodeId
  }
}
fragment NodeId on Node { id }
"""

PAYLOADS = """
query P($run: String!) { run(runId: $run) { runId status duration endTime startTime triggerType
  triggerName tasksConsumed triggerApp { appId name iconUrl docsUrl }
  integration { integrationId userAuth flow { flowId createdAt } }
  steps(first: 5) { totalCount nodes { stepId position name status duration networkCode
    networkCodeText startTime endTime errorDocsUrl app { name }
    run { runId } payload {
      request { method url headers { name value } body bodyJson sizeBytes truncated }
      response { statusCode headers { name value } bodyRaw bodyJson sizeBytes truncated }
      objects { key value } } } } } }"""

END_USERS = """
{ flow(flowId: "flow-1") { endUsers(first: 5) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { userId tasksConsumed taskLimit limitPeriodDays tasksRemaining
      tasksConsumedInPeriod status integrations(first: 3) { totalCount nodes { integrationId } } } }
  } }
  endUser(userId: "ann@example.com") { id userId status limitResetsAt
    integrations(orderBy: {field: LAST_RUN_START, direction: ASC}) { nodes { integrationId } } }
  viewer { accountId name autoPauseAfterFailures retentionDays } }"""

HISTORY = """
{ integrations(first: 10, filter: {status: [DISABLED, DELETED, PAUSED]}) { totalCount nodes {
    integrationId status statusHistory(first: 5) { totalCount edges { cursor node {
      at from to reason actor actorKind actorRole } } } } } }"""

LISTS = """
query L($search: String, $codes: [NetworkCodeClass!]) {
  runs(first: 4, search: $search, filter: {networkCodeClass: $codes},
       orderBy: {field: DURATION, direction: ASC}) {
    totalCount pageInfo { hasNextPage endCursor } nodes { runId duration networkCode } }
  flows(filter: {nameContains: "sync"}) { totalCount nodes { flowId status } }
  integrations(last: 2) { pageInfo { hasPreviousPage startCursor } nodes { integrationId } }
}"""

STATS = """
{ flows { nodes { flowId stats { integrationCount failingCount runsLast24h failedRunsLast24h
  tasksConsumed statusCounts { status count } timeline(hours: 2) { hour runs failedRuns tasks } }
  runs(first: 3, filter: {status: [FAILED]}) { nodes { runId status } } } } }"""

ERRORS = [
    # a bad cursor: the field fails under each parent, its connection is non-null
    ('{ flows { nodes { flowId integrations(after: "nope") { totalCount } } } }', None),
    # a null that cannot be null moves up to the nearest nullable field
    ('{ flow(flowId: "flow-1") { stats { timeline(hours: 0) { hour } } } }', None),
    ('{ flow(flowId: "flow-1") { flowId runs(first: 1, after: "x") { totalCount } } }', None),
    ('{ node(id: "%%%") { id } other: node(id: "RmxvdzpmbG93LTE") { id } }', None),
    ('{ nodes(ids: ["RmxvdzpmbG93LTE", "???"]) { id } }', None),
    # several root fields fail: the first to fail nulls the data, as graphql-core reports it
    ('{ node(id: "") { id } nodes(ids: [""]) { id } runs(after: "0") { totalCount } }', None),
    # refused before running: limits, page sizes, variables
    ("{ flows(first: 0) { totalCount } }", None),
    ("query($n: Int) { flows(first: $n) { totalCount } }", {"n": "ten"}),
    ("query($n: Int!) { flows(first: $n) { totalCount } }", {}),
    ('query($t: DateTime) { runs(filter: {startedAfter: $t}) { totalCount } }', {"t": "never"}),
    ("{ runs(search: \"%s\") { totalCount } }" % ("x" * 300), None),
    ("{ flows(first: 2, last: 2) { totalCount } }", None),
    ("{ nope }", None),
]


def _node_ids() -> list[str]:
    import base64

    def gid(kind: str, key: str) -> str:
        return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).rstrip(b"=").decode()

    return [
        gid("Flow", "flow-1"),
        gid("Integration", "int-3"),
        gid("Run", "r-0-1"),
        gid("Step", "s-0-1-2"),
        gid("Step", "s-1-2-0"),
        gid("EndUser", "ann@example.com"),
        gid("Flow", "unknown"),
        gid("Account", "x"),
    ]


async def test_peer_bench_documents(pair: Pair) -> None:
    variables = {"flowId": "flow-1", "stepId": "s-0-0-1"}
    for document in PEER_DOCUMENTS.values():
        data = await pair.same(document, variables)
        assert "errors" not in data, data
    q2 = await pair.same(PEER_DOCUMENTS["q2"], variables)
    integrations = q2["data"]["flow"]["integrations"]["nodes"]
    assert len(integrations) == 4
    assert all(len(i["runs"]["nodes"]) == 3 for i in integrations)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (DEEP, {"n": 3}),
        (Q2_FRAGMENTS, {"flowId": "flow-1"}),
        (Q2_FRAGMENTS, {"flowId": "flow-1", "withPayload": False}),
        (FLOWS, {"n": 2}),
        (ACCOUNT_INTEGRATIONS, {"n": 2}),
        (FRAGMENTS, {"withRuns": True}),
        (FRAGMENTS, {"withRuns": False, "skipUrl": False, "n": 1}),
        (NODES, {"ids": _node_ids()}),
        (PAYLOADS, {"run": "r-0-1"}),
        (PAYLOADS, {"run": "r-1-2"}),
        (END_USERS, None),
        (HISTORY, None),
        (LISTS, {"search": "slack", "codes": ["C5XX", "C2XX"]}),
        (LISTS, {"search": None, "codes": []}),
        (STATS, None),
        ("{ __typename flow(flowId: \"flow-1\") { __typename } }", None),
        *ERRORS,
    ],
)
async def test_same_answers(pair: Pair, query: str, variables: dict[str, Any] | None) -> None:
    await pair.same(query, variables)


async def test_pages_follow_cursors_alike(pair: Pair) -> None:
    page = """query($after: String) { flow(flowId: "flow-1") { integrations(first: 2,
      after: $after) { pageInfo { hasNextPage endCursor } nodes { integrationId } } } }"""
    first = await pair.same(page, {"after": None})
    cursor = first["data"]["flow"]["integrations"]["pageInfo"]["endCursor"]
    second = await pair.same(page, {"after": cursor})
    assert second["data"]["flow"]["integrations"]["nodes"]


async def test_roles_apply_to_planned_queries(apps: tuple[Any, Any, str]) -> None:
    async with clients(apps, "ingest") as ingest:
        data = await ingest.same('{ flow(flowId: "flow-1") { flowId } flows { totalCount } }')
    assert {err["extensions"]["code"] for err in data["errors"]} == {"FORBIDDEN"}


def _plan(query: str) -> Any:
    return DOCUMENTS.get(query).plan(schema._schema, None, VALIDATION_RULES, LIMITS)


SHAPES = [DEEP, FLOWS, ACCOUNT_INTEGRATIONS, FRAGMENTS, NODES, PAYLOADS, END_USERS, HISTORY]
SHAPES += [LISTS, STATS, Q2_FRAGMENTS, *PEER_DOCUMENTS.values()]


def test_the_dashboard_shapes_are_planned() -> None:
    """The comparisons above compare the planner with strawberry, not strawberry with itself."""
    assert all(_plan(query) is not None for query in SHAPES)
    assert all(_plan(query) is not None for query, _ in ERRORS[:5])


def test_what_the_planner_declines() -> None:
    plan = _plan
    assert plan(PEER_DOCUMENTS["q2"]) is not None
    assert plan("{ __schema { queryType { name } } }") is None
    assert plan('mutation { deleteIntegration(integrationId: "x") { status } }') is None
    assert plan("subscription { runStatusChanged { status } }") is None
    assert plan("{ flows { nope } }") is None  # not valid: strawberry says why


async def test_introspection_goes_through_strawberry(pair: Pair) -> None:
    data = await pair.same("{ __schema { queryType { name } } __typename }")
    assert data["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_response_budget_applies_to_planned_queries(settings: Settings) -> None:
    small = settings.model_copy(update={"max_response_bytes": 600})
    planned, strawberry = planned_apps(small)
    account_id = f"plan-{uuid.uuid4().hex[:8]}"
    try:
        await seed(planned, account_id)
        async with clients((planned, strawberry, account_id), "viewer") as both:
            data = await both.same(PAYLOADS, {"run": "r-0-1"})
    finally:
        for app in (planned, strawberry):
            await app.state.services.close()
    assert data["errors"][0]["extensions"]["code"] == "RESPONSE_TOO_LARGE"


async def _count(app: Any, client: httpx.AsyncClient, query: str, variables: Any) -> int:
    services: Services = app.state.services
    await client.post("/graphql", json={"query": "{ __typename }"})
    with statements(services) as seen:
        token = _MEASURED.set(True)
        try:
            body = {"query": query, "variables": variables}
            answer = (await client.post("/graphql", json=body)).json()
        finally:
            _MEASURED.reset(token)
    assert "errors" not in answer, answer
    return len(seen)


# Q1: flow, integration page, its count. Q2: flow, integration page, run pages, trigger apps,
# runs' integrations, step pages, steps' runs, payloads (the step apps are the trigger apps,
# loaded already). Q3: step, payload.
PEER_STATEMENTS = {"q1": 3, "q2": 8, "q3": 2, "q2_fragments": 8}


async def test_peer_bench_statement_counts(apps: tuple[Any, Any, str]) -> None:
    variables = {"flowId": "flow-1", "stepId": "s-0-0-1"}
    async with clients(apps, "viewer") as both:
        for name, expected in PEER_STATEMENTS.items():
            document = PEER_DOCUMENTS.get(name, Q2_FRAGMENTS)
            planned = await _count(apps[0], both.planned, document, variables)
            strawberry = await _count(apps[1], both.strawberry, document, variables)
            assert planned == strawberry == expected, (name, planned, strawberry)


async def test_a_missing_parent_nulls_alike(settings: Settings) -> None:
    """An integration whose flow row is gone: its non-null ``flow`` fails, and the null moves
    up to the nearest nullable field (the root lookup, or the whole data for a list)."""
    from sqlalchemy import delete

    from gateway.db import tables as t

    planned, strawberry = planned_apps(settings)
    account_id = f"plan-{uuid.uuid4().hex[:8]}"
    try:
        await seed(planned, account_id)
        async with planned.state.services.db.transaction() as conn:
            flows = t.flows
            await conn.execute(
                delete(flows).where(flows.c.account_id == account_id, flows.c.flow_id == "flow-1")
            )
        async with clients((planned, strawberry, account_id), "viewer") as both:
            one = await both.same('{ integration(integrationId: "int-0") { flow { flowId } } }')
            listed = await both.same("{ integrations { nodes { integrationId flow { name } } } }")
            runs = await both.same('{ run(runId: "r-0-0") { runId integration { flow { id } } } }')
    finally:
        for app in (planned, strawberry):
            await app.state.services.close()
    assert one["data"] == {"integration": None}
    assert listed["data"] is None
    assert runs["data"] == {"run": None}
    assert {err["extensions"]["code"] for err in one["errors"] + listed["errors"]} == {"INTERNAL"}


async def test_the_setting_chooses_the_executor(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the planner on, a planned query never reaches strawberry's execution; with
    GATEWAY_PLANNER=off it never reaches the planner."""
    from gateway import planner

    ran: list[str] = []
    planned_execute = planner.execute
    strawberry_execute = schema.execute

    async def through_planner(*args: Any, **kwargs: Any) -> Any:
        ran.append("planner")
        return await planned_execute(*args, **kwargs)

    async def through_strawberry(*args: Any, **kwargs: Any) -> Any:
        ran.append("strawberry")
        return await strawberry_execute(*args, **kwargs)

    monkeypatch.setattr(planner, "execute", through_planner)
    monkeypatch.setattr(schema, "execute", through_strawberry)
    await pair.same(PEER_DOCUMENTS["q1"], {"flowId": "flow-1"})
    assert ran == ["planner", "strawberry"]


async def test_each_operation_of_a_document_is_planned_or_not_on_its_own(pair: Pair) -> None:
    document = """query Flows { flows { totalCount } }
    query Schema { __schema { queryType { name } } }
    mutation Off { disableIntegration(integrationId: "int-0") { status } }"""
    assert DOCUMENTS.get(document).plan(schema._schema, "Flows", VALIDATION_RULES, LIMITS)
    assert not DOCUMENTS.get(document).plan(schema._schema, "Schema", VALIDATION_RULES, LIMITS)
    for name in ("Flows", "Schema", "Off"):
        headers = {"X-Request-Id": f"req-{name}"}
        body = {"query": document, "operationName": name}
        answers = [
            (r.status_code, r.json())
            for r in [
                await client.post("/graphql", json=body, headers=headers)
                for client in (pair.planned, pair.strawberry)
            ]
        ]
        assert answers[0] == answers[1], name
    assert answers[0][1]["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # a viewer's mutation
