"""One log line per request and the Prometheus figures, through the real HTTP app."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import httpx
import pytest

from gateway.http.access_log import RequestRecord
from gateway.logs import JsonFormatter, log_config
from gateway.metrics import MAX_OPERATION_NAMES, EventRate, Metrics
from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.test_redis_broker import change, process_broker, redis_url  # noqa: F401

NAMED = "query Viewer { viewer { accountId } }"


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "gateway.request"]  # type: ignore[attr-defined]


async def test_one_line_per_request_with_what_it_did(
    viewer: Api, account_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    response = await viewer.http.post("/graphql", json={"query": NAMED})
    assert response.status_code == 200
    [line] = _request_lines(caplog)
    key_id = viewer.http.headers["authorization"].split("_")[1]
    assert line | {"durationMs": 0} == {
        "requestId": response.headers["x-request-id"],
        "method": "POST",
        "path": "/graphql",
        "status": 200,
        "durationMs": 0,
        # the key (the cache is off in tests) and the account
        "sqlStatements": 2,
        "account": account_id,
        "keyId": key_id,
        "operation": "Viewer",
        "cost": 1,
    }
    assert line["durationMs"] > 0
    message = caplog.records[-1].getMessage()
    assert f"account={account_id} key={key_id} operation=Viewer cost=1" in message


async def test_the_line_leaves_out_query_strings_and_names_error_codes(
    viewer: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    query = "query Secret($s: String!) { flow(flowId: $s) { name } nope }"
    response = await viewer.http.get(
        "/graphql", params={"query": query, "variables": '{"s": "s3cr3t"}'}
    )
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "gateway.request"]
    assert "s3cr3t" not in record.getMessage()
    assert "s3cr3t" not in json.dumps(record.fields)  # type: ignore[attr-defined]
    assert record.fields["path"] == "/graphql"  # type: ignore[attr-defined]
    assert record.fields["errors"] == ["BAD_USER_INPUT"]  # type: ignore[attr-defined]
    assert record.fields["cost"] is None  # refused before it was charged  # type: ignore[attr-defined]


def test_json_lines_hold_the_fields() -> None:
    record = logging.LogRecord("gateway.request", logging.INFO, __file__, 1, "%s", ("x",), None)
    record.fields = {"requestId": "r1", "sqlStatements": 3}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "x"
    assert (line["level"], line["logger"], line["requestId"], line["sqlStatements"]) == (
        "info",
        "gateway.request",
        "r1",
        3,
    )
    assert line["time"].endswith("+00:00")
    # serve's logging configuration names this formatter (gateway serve applies it; the
    # shutdown test reads a JSON log)
    config = log_config("json", "info")
    assert config["formatters"]["gateway"]["()"] == "gateway.logs.JsonFormatter"
    assert config["loggers"]["gateway"]["level"] == "INFO"


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def test_metrics_per_operation_errors_statements_and_gauges(
    app_and_services: tuple[Any, Services], viewer: Api, ingester: Api
) -> None:
    app = app_and_services[0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as anonymous:
        before = (await anonymous.get("/metrics")).text
        await viewer.data(NAMED)
        await viewer.data(NAMED)
        await viewer.raw("{ nope }")
        await ingester.data(e.INGEST, {"events": [e.flow(), e.flow()]})
        await anonymous.post("/graphql", json={"query": NAMED})
        after = (await anonymous.get("/metrics")).text

    def grew(name: str) -> float:
        return _sample(after, name) - _sample(before, name)

    assert grew('gateway_graphql_operation_seconds_count{operation="Viewer"}') == 2
    assert grew('gateway_graphql_operation_seconds_count{operation="Ingest"}') == 1
    # "{ nope }", and the request without a key (refused before its operation is read)
    assert grew('gateway_graphql_operation_seconds_count{operation="anonymous"}') == 2
    assert grew('gateway_graphql_errors_total{code="BAD_USER_INPUT"}') == 1
    assert grew('gateway_graphql_errors_total{code="UNAUTHENTICATED"}') == 1
    assert grew("gateway_graphql_sql_statements_count") == 5
    # two requests of 2 statements (key, account); the 401 looked up its key: 1
    assert grew('gateway_graphql_sql_statements_bucket{le="2.0"}') >= 3
    assert "gateway_subscriptions_open " in after
    assert "gateway_ingest_events_per_second " in after
    assert "gateway_broker_lag_seconds_count " in after


def test_operation_names_are_bounded_label_values() -> None:
    metrics = Metrics()
    labels = {metrics.operation_label(f"Op{i}") for i in range(MAX_OPERATION_NAMES + 5)}
    assert len(labels) == MAX_OPERATION_NAMES + 1
    assert "other" in labels
    assert metrics.operation_label("Op0") == "Op0"
    assert metrics.operation_label("not a name; drop table") == "other"
    assert metrics.operation_label(None) == "anonymous"


def test_a_gauge_is_one_call() -> None:
    metrics, depth = Metrics(), [7]
    metrics.gauge("gateway_test_depth", "A depth.", lambda: depth[0])
    assert "gateway_test_depth 7.0" in metrics.exposition().decode()


def test_ingest_rate_counts_whole_seconds() -> None:
    clock = [100.2]
    rate = EventRate(window=10, clock=lambda: clock[0])
    rate.add(50)
    clock[0] = 100.9
    rate.add(30)
    assert rate.per_second() == 0  # the second under way is not whole yet
    clock[0] = 101.1
    assert rate.per_second() == 8.0
    clock[0] = 112.0
    assert rate.per_second() == 0


async def test_broker_lag_is_observed_on_messages_of_other_processes(
    redis_url: str,  # noqa: F811
) -> None:
    prefix = f"test-lag-{uuid.uuid4().hex[:12]}"
    first, second = process_broker(redis_url, prefix), process_broker(redis_url, prefix)
    lags: list[float] = []
    second.observe_lag = lags.append
    await first.start()
    await second.start()
    try:
        subscription = second.subscribe("acct")
        await first.publish([change("acct", "run-1")])
        async with asyncio.timeout(5):
            await anext(aiter(subscription))
        assert len(lags) == 1
        assert 0 <= lags[0] < 5
    finally:
        await first.close()
        await second.close()


def test_record_defaults() -> None:
    assert RequestRecord().codes == []
