from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
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


async def test_metrics_carry_no_account_data(
    app_and_services: tuple[Any, Services], ingester: Api, viewer: Api, account_id: str
) -> None:
    # given an account that ingested and queried (with an error)
    app = app_and_services[0]
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("x", "nope")]})
    await viewer.raw('{ flow(id: "nope") { id } }')
    # when anyone scrapes /metrics
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as anonymous:
        text = (await anonymous.get("/metrics")).text
    # then no account, key or engine ID appears, and the only labels are status, result, le,
    # an error code and an operation name (the client's own, bounded)
    assert account_id not in text
    assert "nope" not in text
    labels = set(re.findall(r"([a-zA-Z_]+)=\"", text))
    assert labels <= {"status", "result", "le", "code", "operation"}, labels


def _scraper(settings: Settings) -> httpx.AsyncClient:
    app = create_app(settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.mark.parametrize("token", [None, ""])
async def test_metrics_are_open_without_a_token(settings: Settings, token: str | None) -> None:
    secret = None if token is None else SecretStr(token)
    async with _scraper(settings.model_copy(update={"metrics_token": secret})) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert "gateway_graphql_requests" in response.text


async def test_metrics_token_is_required_when_set(
    settings: Settings, app_and_services: tuple[Any, Services], account_id: str
) -> None:
    # given GATEWAY_METRICS_TOKEN and an API key of an account
    token = "m3trics-" + "x" * 24
    api_key = await create_key(app_and_services[1].db, account_id, "admin")
    async with _scraper(settings.model_copy(update={"metrics_token": SecretStr(token)})) as client:
        # when scraped without, with a wrong or an API key as the token, then 401 + challenge
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {token}x"},
            {"Authorization": f"Basic {token}"},
            {"Authorization": token},
            {"Authorization": f"Bearer {api_key}"},
        ):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"].startswith("Bearer"), headers
            assert "gateway_" not in response.text
        # and with the token, the figures
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert "gateway_graphql_requests" in response.text
        lower = await client.get("/metrics", headers={"authorization": f"bearer {token}"})
        assert lower.status_code == 200
