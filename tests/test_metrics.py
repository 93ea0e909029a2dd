from __future__ import annotations

from typing import Any

import httpx

from gateway.services import Services
from tests import events as e
from tests.conftest import Api


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def test_metrics_count_requests_and_ingested_events(
    app_and_services: tuple[Any, Services], ingester: Api, viewer: Api
) -> None:
    app = app_and_services[0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as anonymous:
        before = (await anonymous.get("/metrics")).text
        await ingester.data(e.INGEST, {"events": [e.flow(), e.flow(), e.integration("x", "nope")]})
        await viewer.data("{ viewer { accountId } }")
        await anonymous.post("/graphql", json={"query": "{ viewer { accountId } }"})
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def grew(name: str) -> float:
        return _sample(after, name) - _sample(before, name)

    assert grew('gateway_graphql_requests_total{status="200"}') == 2
    assert grew('gateway_graphql_requests_total{status="401"}') == 1
    assert grew("gateway_graphql_request_seconds_count") == 3
    assert grew('gateway_ingest_events_total{result="accepted"}') == 2
    assert grew('gateway_ingest_events_total{result="rejected"}') == 1
