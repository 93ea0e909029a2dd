"""Expected errors are one log line each (code, request id, operation); only INTERNAL ones
carry a traceback; neither parameters nor bodies are ever logged."""

from __future__ import annotations

import logging

import pytest

from gateway.resolvers import lookups
from tests import events as e
from tests.conftest import Api

SECRET = "s3cr3t-" + "x" * 50_000  # a big parameter that must never reach the log


def client_errors() -> list[tuple[str, dict | None, str]]:
    return [
        ("{ flows(first: 0) { totalCount } }", None, "BAD_USER_INPUT"),
        ("query Cursor { runs(after: $c) { totalCount } }", None, "BAD_USER_INPUT"),
        ("query Cursor($c: String) { runs(after: $c) { totalCount } }", {"c": SECRET},
         "BAD_USER_INPUT"),
        ("query Node($id: ID!) { node(id: $id) { id } }", {"id": SECRET}, "BAD_USER_INPUT"),
        ("{ runs(filter: {startedAfter: \"x\"}) { totalCount } }", None, "BAD_USER_INPUT"),
        ("{ nope }", None, "BAD_USER_INPUT"),
        ("{ flows( }", None, "BAD_USER_INPUT"),
        ("query Deep($s: String!) { flows(filter: {nameContains: $s}) { totalCount } }",
         {"s": SECRET[:100]}, ""),
        ("mutation Disable { disableIntegration(integrationId: \"missing\") { status } }", None,
         "NOT_FOUND"),
        ("{ " + " ".join(["viewer { accountId }"] * 60) + " }", None, "QUERY_TOO_COMPLEX"),
    ]


async def test_a_burst_of_client_errors_writes_no_traceback(
    admin: Api, viewer: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request_ids = []
    for query, variables, code in client_errors():
        response = await admin.post(query, variables)
        assert response.status_code < 500, response.text
        body = response.json()
        if code:
            assert code in {err["extensions"]["code"] for err in body["errors"]}, body
        request_ids.append(response.headers["x-request-id"])
    forbidden = await viewer.post('mutation Act { disableIntegration(integrationId: "x") { id } }')
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    request_ids.append(forbidden.headers["x-request-id"])

    assert not [r for r in caplog.records if r.exc_info], "tracebacks were logged"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cr3t" not in logged
    assert "SELECT" not in logged  # no SQL either
    # one line per error, naming its code, request id and operation
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.errors"]
    assert any(request_ids[-1] in line and "FORBIDDEN" in line and "Act" in line for line in lines)
    assert any("NOT_FOUND" in line and "Disable" in line for line in lines)
    assert any("QUERY_TOO_COMPLEX" in line for line in lines)
    assert all(len(line) < 300 for line in lines)
    for request_id in request_ids[:7]:
        assert sum(request_id in line for line in lines) >= 1


async def test_an_internal_error_is_masked_and_logged_with_its_traceback(
    viewer: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_ctx: object) -> None:
        raise RuntimeError("the account table is on fire")

    monkeypatch.setattr(lookups, "account", broken)
    caplog.set_level(logging.INFO)
    response = await viewer.post("query Me { viewer { accountId } }")
    body = response.json()
    [error] = body["errors"]
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert "fire" not in response.text
    [record] = [r for r in caplog.records if r.exc_info]
    assert request_id in record.getMessage()
    assert "Me" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_ingest_rejections_are_not_logged_as_errors(
    ingester: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    result = await ingester.data(e.INGEST, {"events": [e.run_started("r1", "missing", 1)]})
    assert result["ingestEvents"]["rejected"][0]["code"] == "NOT_FOUND"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_access_log_leaves_out_query_strings() -> None:
    from gateway.app import create_app
    from gateway.config import Settings

    create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    logger = logging.getLogger("uvicorn.access")
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/graphql?query=q&variables=%7B%22k%22%3A%22s3%22%7D", "1.1", 200),
        None,
    )
    assert all(f.filter(record) for f in logger.filters)
    assert record.getMessage() == '127.0.0.1:5 - "GET /graphql?… HTTP/1.1" 200'
