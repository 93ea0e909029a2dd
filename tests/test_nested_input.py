"""Deeply nested lists and objects are the client's bad input: in a variable BAD_USER_INPUT, in
the document BAD_USER_INPUT or QUERY_TOO_COMPLEX; never INTERNAL, never HTTP 500, on every
argument that takes a list or an input object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.limits import MAX_JSON_DEPTH
from gateway.services import Services
from tests import events as e
from tests.conftest import Api, api_client
from tests.test_ingest_support import RECENT

NODES = "query($v: [ID!]!) { nodes(ids: $v) { id } }"
RUNS_SEARCH = "query($v: String) { runs(search: $v) { totalCount } }"
RUNS_FILTER = "query($v: RunFilter) { runs(filter: $v) { totalCount } }"
FLOWS_FILTER = "query($v: FlowFilter) { flows(filter: $v) { totalCount } }"
DISABLE = "mutation($v: [String!]!) { disableIntegrations(integrationIds: $v) { id } }"
INGEST = "mutation($v: [IngestEvent!]!) { ingestEvents(events: $v) { accepted } }"
# orjson reads JSON up to 1,024 levels deep: 990 reaches the gateway's own code, 2,000 is
# refused while the body is read.
DEPTHS = (990, 2000)


def deep_list(depth: int) -> str:
    return "[" * depth + '"x"' + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + '"x"' + "}" * depth


# (role, query, the variable's JSON text for a depth)
CASES = {
    "nodes ids, nested lists": ("viewer", NODES, deep_list),
    "nodes ids, nested objects": ("viewer", NODES, deep_object),
    "runs search, nested lists": ("viewer", RUNS_SEARCH, deep_list),
    "runs search, nested objects": ("viewer", RUNS_SEARCH, deep_object),
    "runs filter, nested lists": ("viewer", RUNS_FILTER, deep_list),
    "runs filter, nested objects": ("viewer", RUNS_FILTER, deep_object),
    "runs filter networkCode, nested lists": (
        "viewer",
        RUNS_FILTER,
        lambda n: f'{{"networkCode":{deep_list(n)}}}',
    ),
    "runs filter status, nested objects": (
        "viewer",
        RUNS_FILTER,
        lambda n: f'{{"status":[{deep_object(n)}]}}',
    ),
    "flows filter nameContains, nested lists": (
        "viewer",
        FLOWS_FILTER,
        lambda n: f'{{"nameContains":{deep_list(n)}}}',
    ),
    "flows filter, nested objects": ("viewer", FLOWS_FILTER, deep_object),
    "disableIntegrations ids, nested lists": ("admin", DISABLE, deep_list),
    "disableIntegrations ids, nested objects": ("admin", DISABLE, lambda n: f"[{deep_object(n)}]"),
    "ingestEvents events, nested lists": ("ingest", INGEST, deep_list),
    "ingestEvents events, nested objects": ("ingest", INGEST, deep_object),
    "ingestEvents event, nested objects": (
        "ingest",
        INGEST,
        lambda n: f'[{{"flowUpserted":{deep_object(n)}}}]',
    ),
}


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("case", list(CASES))
async def test_deeply_nested_variables_are_a_coded_error(
    app_and_services: tuple[Any, Services], account_id: str, case: str, depth: int
) -> None:
    # given a client of the field's role and a variable nested `depth` levels deep
    role, query, variable = CASES[case]
    body = f'{{"query":{json.dumps(query)},"variables":{{"v":{variable(depth)}}}}}'
    # when it is sent
    async with api_client(app_and_services, account_id, role) as api:
        response = await api.http.post(
            "/graphql", content=body.encode(), headers={"Content-Type": "application/json"}
        )
    # then the answer is the client's bad input, not a server error (nor a query too complex:
    # the document is small)
    assert response.status_code in (200, 400), response.text[:500]
    errors = response.json()["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["BAD_USER_INPUT"], errors
    assert all(len(error["message"]) < 1000 for error in errors)


LITERAL_QUERIES = [
    "{ nodes(ids: VALUE) { id } }",
    "{ runs(search: VALUE) { totalCount } }",
    "{ runs(filter: {networkCode: VALUE}) { totalCount } }",
]


@pytest.mark.parametrize("depth", [100, 990])
@pytest.mark.parametrize("nested", ["[VALUE]", "{a: VALUE}"])
@pytest.mark.parametrize("query", LITERAL_QUERIES)
async def test_deeply_nested_literals_are_a_coded_error(
    viewer: Api, query: str, nested: str, depth: int
) -> None:
    # given a literal argument nested `depth` levels deep in the document
    value = '"x"'
    for _ in range(depth):
        value = nested.replace("VALUE", value)
    # when it is sent
    response = await viewer.post(query.replace("VALUE", value))
    # then the answer is a coded client error
    assert response.status_code in (200, 400), response.text[:500]
    codes = {error["extensions"]["code"] for error in response.json()["errors"]}
    assert codes, response.text[:500]
    assert codes <= {"BAD_USER_INPUT", "QUERY_TOO_COMPLEX"}, response.text[:500]


def _batch_with_object_value(marker_value: str) -> str:
    """A batch of valid events whose last step carries ``marker_value`` (JSON text) as the
    value of a payload object; built as text, since the value may be nested past what
    ``json.dumps`` can write."""
    payload = {"request": {"method": "GET", "url": "https://api.example.com/"}}
    items = [
        e.flow(t=RECENT),
        e.integration("int-1", t=RECENT + 1),
        e.run_started("run-1", "int-1", RECENT + 10),
        e.step_finished("s1", "run-1", 1, RECENT + 11, RECENT + 12, payload=payload),
        e.step_finished(
            "s2",
            "run-1",
            2,
            RECENT + 12,
            RECENT + 13,
            payload={**payload, "objects": [{"key": "deep", "value": "MARKER"}]},
        ),
        e.run_finished("run-1", "OK", RECENT + 14),
    ]
    text = json.dumps({"query": e.INGEST, "variables": {"events": items}})
    return text.replace('"MARKER"', marker_value)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 990])
async def test_a_too_deep_object_value_rejects_its_event_only(
    ingester: Api, viewer: Api, depth: int
) -> None:
    # given a batch of valid events, one with a payload object nested `depth` levels deep
    body = _batch_with_object_value(deep_list(depth - 1).replace('"x"', "{}"))
    # when it is ingested
    response = await ingester.http.post(
        "/graphql", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    # then that event is rejected with a reason and the others are applied
    assert response.status_code == 200, response.text[:500]
    result = response.json()["data"]["ingestEvents"]
    assert result["accepted"] == 5
    [rejected] = result["rejected"]
    assert rejected["index"] == 4
    assert rejected["code"] == "BAD_USER_INPUT"
    assert rejected["message"] == (
        f"payload.objects[0].value is nested more than {MAX_JSON_DEPTH} levels deep."
    )
    run = (await viewer.data('{ run(runId: "run-1") { status steps { totalCount } } }'))["run"]
    assert run == {"status": "OK", "steps": {"totalCount": 1}}


async def test_an_object_value_at_the_depth_limit_is_accepted(ingester: Api) -> None:
    # given a payload object nested exactly as deep as allowed
    body = _batch_with_object_value(deep_list(MAX_JSON_DEPTH - 1).replace('"x"', "{}"))
    # when it is ingested, then every event is accepted
    response = await ingester.http.post(
        "/graphql", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    result = response.json()["data"]["ingestEvents"]
    assert result == {"accepted": 6, "duplicates": 0, "rejected": []}
