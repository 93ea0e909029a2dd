"""The /graphql endpoint through the ASGI app: auth, roles, methods, body limits, status codes
per media type, cost limits, error masking, GraphiQL and the health probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.auth.keys import create_key
from gateway.db import accounts, reads
from gateway.resolvers import lists
from gateway.services import Services
from tests import events as e
from tests.conftest import Api, api_client

GRAPHQL_RESPONSE = "application/graphql-response+json"
MiB = 1024 * 1024


@pytest.fixture
async def anonymous(app_and_services: tuple[Any, Services]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_and_services[0])
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


def _codes(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body.get("errors"), f"expected errors, got {body}"
    return [error["extensions"]["code"] for error in body["errors"]]


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert _codes(response) == ["UNAUTHENTICATED"]
    assert "data" not in response.json()
    assert response.headers["www-authenticate"] == "Bearer"


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "gw_abc_def",
        "Token gw_abc_def",
        "Bearer gw_0123456789abcdef_not-a-real-key",
    ],
    ids=["none", "empty", "no-key", "blank-key", "basic", "no-scheme", "other-scheme", "unknown"],
)
async def test_missing_malformed_or_unknown_key_is_unauthenticated(
    anonymous: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await anonymous.post(
        "/graphql", json={"query": "{ viewer { accountId } }"}, headers=headers
    )
    _assert_unauthenticated(response)


async def test_unauthenticated_on_get_and_with_graphql_response_json(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await anonymous.get("/graphql", params={"query": "{ __typename }"})
    _assert_unauthenticated(response)
    response = await anonymous.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    _assert_unauthenticated(response)
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)


async def test_revoked_key_is_unauthenticated(
    app_and_services: tuple[Any, Services], anonymous: httpx.AsyncClient, account_id: str
) -> None:
    services = app_and_services[1]
    key = await create_key(services.db, account_id, "viewer")
    headers = {"Authorization": f"Bearer {key}"}
    query = {"query": "{ viewer { accountId } }"}
    response = await anonymous.post("/graphql", json=query, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": {"accountId": account_id}}}

    key_id = key.split("_", 2)[1]
    async with services.db.transaction() as conn:
        assert await accounts.revoke_key(conn, key_id)
    response = await anonymous.post("/graphql", json=query, headers=headers)
    _assert_unauthenticated(response)


# -- roles ------------------------------------------------------------------------------------


async def test_viewer_cannot_ingest(viewer: Api) -> None:
    response = await viewer.post(e.INGEST, {"events": [e.flow()]})
    assert response.status_code == 200
    assert _codes(response) == ["FORBIDDEN"]


async def test_ingest_key_cannot_query(ingester: Api) -> None:
    assert await ingester.error_codes("{ flows { totalCount } }") == ["FORBIDDEN"]
    assert await ingester.error_codes("{ viewer { accountId } }") == ["FORBIDDEN"]


async def test_ingest_key_can_ingest_and_admin_can_read(ingester: Api, admin: Api) -> None:
    result = await ingester.data(e.INGEST, {"events": [e.flow()]})
    assert result["ingestEvents"]["accepted"] == 1
    data = await admin.data('{ flow(flowId: "flow-1") { name } }')
    assert data == {"flow": {"name": "Sync contacts"}}


# -- methods and request shape ------------------------------------------------------------------


async def test_mutation_over_get_is_405(admin: Api) -> None:
    response = await admin.http.get(
        "/graphql", params={"query": e.INGEST, "variables": '{"events": []}'}
    )
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert _codes(response) == ["BAD_USER_INPUT"]


async def test_query_over_get_runs(viewer: Api) -> None:
    response = await viewer.http.get(
        "/graphql",
        params={
            "query": "query Q($n: Int) { flows(first: $n) { totalCount } }",
            "variables": '{"n": 5}',
            "operationName": "Q",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"flows": {"totalCount": 0}}}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_are_405(viewer: Api, method: str) -> None:
    response = await viewer.http.request(method, "/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_post_needs_json_content_type(viewer: Api) -> None:
    response = await viewer.http.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert _codes(response) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b'{"query": "{ __typename }"', b"\xff\xfe"],
    ids=["garbage", "empty", "truncated", "not-utf8"],
)
async def test_bad_json_is_400(viewer: Api, body: bytes) -> None:
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await viewer.http.post(
            "/graphql", content=body, headers={"Content-Type": "application/json", "Accept": accept}
        )
        assert response.status_code == 400, response.text
        assert _codes(response) == ["BAD_USER_INPUT"]
        assert "data" not in response.json()


@pytest.mark.parametrize(
    "params",
    [
        [],
        {"query": 1},
        {"query": ""},
        {"query": "{ __typename }", "variables": "[]"},
        {"query": "{ __typename }", "operationName": 5},
        {"query": "{ __typename }", "extensions": [1]},
    ],
    ids=[
        "array",
        "number-query",
        "empty-query",
        "bad-variables",
        "bad-operation-name",
        "bad-extensions",
    ],
)
async def test_invalid_parameters_are_400(viewer: Api, params: Any) -> None:
    response = await viewer.http.post("/graphql", json=params)
    assert response.status_code == 400, response.text
    assert _codes(response) == ["BAD_USER_INPUT"]


# -- body limits ----------------------------------------------------------------------------------


def _padded_query(size: int) -> str:
    return "{ __typename }" + "#" * size


@pytest.mark.parametrize("role", ["viewer", "admin", "ingest"])
async def test_query_body_over_1_mib_is_413(
    app_and_services: tuple[Any, Services], account_id: str, role: str
) -> None:
    async with api_client(app_and_services, account_id, role) as api:
        http = api.http
        response = await http.post("/graphql", json={"query": _padded_query(MiB + 10)})
        assert response.status_code == 413, response.text
        assert _codes(response) == ["BAD_USER_INPUT"]
        # A mention of ingestEvents does not make a query an ingest batch.
        disguised = "mutation { __typename } # ingestEvents" + " " * (MiB + 10)
        response = await http.post("/graphql", json={"query": disguised})
        assert response.status_code == 413, response.text


async def test_query_body_just_under_1_mib_is_accepted(viewer: Api) -> None:
    body = orjson.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (MiB - 100)}})
    assert len(body) < MiB
    response = await viewer.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_ingest_batch_of_1_5_mib_is_accepted(ingester: Api, admin: Api) -> None:
    body_text = "x" * (190 * 1024)
    payload = {
        "request": {"method": "POST", "url": "https://api.example.com/contacts", "body": body_text},
        "response": {"statusCode": 200, "body": body_text},
    }
    batch = [e.flow(), e.integration("int-big"), e.run_started("run-big", "int-big", 10)]
    batch += [e.step_finished(f"s{i}", "run-big", i, 11, 12, payload=payload) for i in range(1, 5)]
    batch.append(e.run_finished("run-big", "OK", 20))
    body = orjson.dumps({"query": e.INGEST, "variables": {"events": batch}})
    assert 1.4 * MiB < len(body) < 16 * MiB
    response = await ingester.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["ingestEvents"] == {
        "accepted": len(batch),
        "duplicates": 0,
        "rejected": [],
    }
    data = await admin.data('{ run(runId: "run-big") { status steps { totalCount } } }')
    assert data == {"run": {"status": "OK", "steps": {"totalCount": 4}}}


async def test_viewer_cannot_send_a_large_ingest_batch(viewer: Api) -> None:
    events = [e.flow(name="n" * 200) for _ in range(6000)]
    body = orjson.dumps({"query": e.INGEST, "variables": {"events": events}})
    assert len(body) > MiB
    response = await viewer.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert _codes(response) == ["BAD_USER_INPUT"]


# -- parse and validation errors per media type -------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["{ flows { totalCount ", "{ noSuchField }", "query ($n: Int!) { __typename }"],
    ids=["parse", "validation", "unused-variable"],
)
async def test_document_errors_are_bad_user_input(viewer: Api, query: str) -> None:
    response = await viewer.post(query, Accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in response.json()
    assert set(_codes(response)) == {"BAD_USER_INPUT"}

    response = await viewer.post(query, Accept="application/json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "data" not in response.json()
    assert set(_codes(response)) == {"BAD_USER_INPUT"}


async def test_variable_coercion_error_is_bad_user_input(viewer: Api) -> None:
    query = "query ($n: Int) { flows(first: $n) { totalCount } }"
    response = await viewer.post(query, {"n": "ten"}, Accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert "data" not in response.json()
    assert _codes(response) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": "query A { __typename }", "operationName": "B"}, 'Unknown operation named "B"'),
        ({"query": "query A { __typename } query B { __typename }"}, "operationName"),
        ({"query": "fragment F on Query { __typename }"}, "no operation"),
        ({"query": "subscription { runStatusChanged { status } }"}, "WebSocket"),
    ],
    ids=["unknown-name", "ambiguous", "no-operation", "subscription"],
)
async def test_operation_selection_errors(viewer: Api, body: dict[str, Any], message: str) -> None:
    response = await viewer.http.post("/graphql", json=body, headers={"Accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400, response.text
    assert _codes(response) == ["BAD_USER_INPUT"]
    assert message in response.json()["errors"][0]["message"]


async def test_operation_name_selects_the_operation(viewer: Api) -> None:
    response = await viewer.http.post(
        "/graphql",
        json={
            "query": "query A { __typename } query B { viewer { accountId } }",
            "operationName": "B",
        },
    )
    assert response.json() == {"data": {"viewer": {"accountId": viewer.account_id}}}


async def test_accept_negotiation(viewer: Api) -> None:
    query = {"query": "{ __typename }"}
    cases = {
        GRAPHQL_RESPONSE: GRAPHQL_RESPONSE,
        "application/json": "application/json",
        "*/*": "application/json",
        f"application/json;q=0.5, {GRAPHQL_RESPONSE}": GRAPHQL_RESPONSE,
        f"application/json, {GRAPHQL_RESPONSE};q=0.1": "application/json",
    }
    for accept, expected in cases.items():
        response = await viewer.http.post("/graphql", json=query, headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{expected}; charset=utf-8", accept
    response = await viewer.http.post("/graphql", json=query, headers={"Accept": "text/plain"})
    assert response.status_code == 406
    assert _codes(response) == ["BAD_USER_INPUT"]


# -- limits ---------------------------------------------------------------------------------------


async def test_page_size_over_100_is_refused_before_execution(
    viewer: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def must_not_run(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the resolver ran")

    monkeypatch.setattr(lists, "flows", must_not_run)
    for first in (101, 0, -1):
        response = await viewer.post(
            f"{{ flows(first: {first}) {{ totalCount }} }}", Accept=GRAPHQL_RESPONSE
        )
        assert response.status_code == 400, response.text
        assert "data" not in response.json()
        assert _codes(response) == ["BAD_USER_INPUT"]
    response = await viewer.post("query ($n: Int) { flows(first: $n) { totalCount } }", {"n": 101})
    assert _codes(response) == ["BAD_USER_INPUT"]


def _deep_query(depth: int) -> str:
    """A valid query whose deepest path has ``depth`` fields (one node per level)."""
    fields = ['flow(flowId: "flow-1")']
    while len(fields) < depth - 1:
        fields += ["integrations(first: 1)", "nodes", "flow"]
    fields = fields[: depth - 1]
    leaf = {"integrations(first: 1)": "totalCount", "nodes": "integrationId"}.get(
        fields[-1], "flowId"
    )
    query = leaf
    for field in reversed(fields):
        query = f"{field} {{ {query} }}"
    return f"{{ {query} }}"


def _aliases_query(count: int) -> str:
    return "{ " + " ".join(f"a{i}: viewer {{ accountId }}" for i in range(count)) + " }"


WIDE_QUERY = """{ flows(first: 100) { nodes { integrations(first: 100) { nodes {
  runs(first: 10) { nodes { runId } } } } } } }"""


@pytest.mark.parametrize(
    "query",
    [WIDE_QUERY, _deep_query(21), _aliases_query(31)],
    ids=["nodes-over-50000", "depth-21", "aliases-31"],
)
async def test_too_complex_queries_are_refused(
    viewer: Api, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    async def must_not_run(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a resolver ran")

    monkeypatch.setattr(reads, "flows_by_id", must_not_run)
    monkeypatch.setattr(lists, "flows", must_not_run)
    response = await viewer.post(query, Accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert "data" not in response.json()
    assert "QUERY_TOO_COMPLEX" in _codes(response)
    assert set(_codes(response)) == {"QUERY_TOO_COMPLEX"}


@pytest.mark.parametrize(
    "query", [_deep_query(20), _aliases_query(30)], ids=["depth-20", "aliases-30"]
)
async def test_queries_at_the_limits_run(viewer: Api, query: str) -> None:
    response = await viewer.post(query)
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text


# -- unexpected failures ----------------------------------------------------------------------


async def test_unexpected_exception_is_masked_as_internal(
    viewer: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret SQL")

    monkeypatch.setattr(reads, "flows_by_id", broken)
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await viewer.post('{ flow(flowId: "flow-1") { name } }', Accept=accept)
        assert "secret SQL" not in response.text
        assert "Traceback" not in response.text
        assert "RuntimeError" not in response.text
        body = response.json()
        assert body["data"] == {"flow": None}
        [error] = body["errors"]
        assert error["extensions"]["code"] == "INTERNAL"
        assert error["extensions"]["requestId"] == response.headers["x-request-id"]
        assert error["path"] == ["flow"]


async def test_client_request_id_is_echoed_in_the_masked_error(
    viewer: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret SQL")

    monkeypatch.setattr(reads, "flows_by_id", broken)
    response = await viewer.http.post(
        "/graphql",
        json={"query": '{ flow(flowId: "flow-1") { name } }'},
        headers={"X-Request-Id": "req-123.abc"},
    )
    assert response.headers["x-request-id"] == "req-123.abc"
    assert response.json()["errors"][0]["extensions"]["requestId"] == "req-123.abc"
    # An id that does not look like one is replaced, not echoed.
    response = await viewer.http.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"X-Request-Id": "<script>" + "x" * 300},
    )
    assert response.headers["x-request-id"] != "<script>" + "x" * 300
    assert len(response.headers["x-request-id"]) == 32


async def test_failure_outside_resolvers_is_masked(
    viewer: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.http.guard as guard

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret SQL")

    monkeypatch.setattr(guard, "measure_operation", broken)
    response = await viewer.post("{ flows { totalCount } }", Accept=GRAPHQL_RESPONSE)
    assert "secret SQL" not in response.text
    assert response.status_code == 500
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "INTERNAL",
        "requestId": response.headers["x-request-id"],
    }


async def test_failure_in_authentication_is_masked(
    viewer: Api, monkeypatch: pytest.MonkeyPatch, app_and_services: tuple[Any, Services]
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret SQL")

    monkeypatch.setattr(app_and_services[1].authenticator, "principal", broken)
    response = await viewer.post("{ __typename }")
    assert response.status_code == 500
    assert "secret SQL" not in response.text
    assert _codes(response) == ["INTERNAL"]
    assert (
        response.json()["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    )


# -- GraphiQL and probes ----------------------------------------------------------------------


async def test_graphiql_is_served_to_browsers(anonymous: httpx.AsyncClient) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for accept in ("text/html", browser):
        response = await anonymous.get("/graphql", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "graphiql" in response.text.lower()
    # A JSON client asking GET without a query gets an error, not the page.
    response = await anonymous.get("/graphql", headers={"Accept": "application/json"})
    assert response.status_code == 401


async def test_health_probes(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    response = await anonymous.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
