"""Rate limits per API key by operation cost, through the real HTTP app: the in-process
buckets, and Redis buckets shared by two apps (two processes) on the shared Redis, each test
with its own key prefix."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.cli import main
from gateway.config import Settings, get_settings
from gateway.ratelimit.buckets import BucketStore, MemoryBuckets, RedisBuckets
from gateway.ratelimit.limiter import RateLimiter
from gateway.services import Services
from tests import events as e
from tests.test_redis_broker import redis_url  # noqa: F401  (the shared Redis, or a skip)

RATE = "{ rateLimit { cost limit nodeCount remaining used resetAt } }"
# 100 runs + 100 x 100 steps = 10,100 nodes: 101 points.
DEEP = """{ rateLimit { cost nodeCount remaining }
  runs(first: 100) { nodes { steps(first: 100) { nodes { stepId } } } } }"""


@asynccontextmanager
async def gateway(
    settings: Settings, store: BucketStore | None = None, **overrides: Any
) -> AsyncIterator[tuple[Any, Services]]:
    """An app of its own (another process, as far as its buckets go)."""
    app = create_app(settings.model_copy(update=overrides))
    services: Services = app.state.services
    if store is not None:
        services.rate_limiter = RateLimiter(services.settings, store)
    try:
        yield app, services
    finally:
        await services.close()


@asynccontextmanager
async def clients(
    apps: list[Any], services: Services, account_id: str, role: str = "viewer", **key: Any
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One key, and a client of it for each app."""
    secret = await create_key(services.db, account_id, role, **key)
    made = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {secret}"},
        )
        for app in apps
    ]
    try:
        yield made
    finally:
        for client in made:
            await client.aclose()


async def post(client: httpx.AsyncClient, query: str, **variables: Any) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables})


async def test_an_operation_costs_its_node_count_per_100_points(
    app_and_services: tuple[Any, Services], account_id: str
) -> None:
    app, services = app_and_services
    async with clients([app], services, account_id, points_per_hour=1000) as [client]:
        response = await post(client, DEEP)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["rateLimit"] == {
            "cost": 101,
            "nodeCount": 10_100,
            "remaining": 899,
        }
        headers = response.headers
        assert headers["x-ratelimit-limit"] == "1000"
        assert headers["x-ratelimit-remaining"] == "899"
        assert headers["x-ratelimit-used"] == "101"
        assert headers["x-ratelimit-resource"] == "graphql"

        # the smallest operation costs one point; resetAt is when the budget is whole again
        rate = (await post(client, RATE)).json()["data"]["rateLimit"]
        assert (rate["cost"], rate["nodeCount"], rate["limit"]) == (1, 0, 1000)
        assert (rate["remaining"], rate["used"]) == (898, 102)
        reset_at = datetime.fromisoformat(rate["resetAt"]).timestamp()
        assert abs(reset_at - int((await post(client, RATE)).headers["x-ratelimit-reset"])) < 5


async def test_over_the_hourly_budget_is_429_with_retry_after(
    app_and_services: tuple[Any, Services], account_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.errors")
    app, services = app_and_services
    async with clients([app], services, account_id, points_per_hour=3) as [client]:
        left = [(await post(client, RATE)).json()["data"]["rateLimit"]["remaining"] for _ in "abc"]
        assert left == [2, 1, 0]

        refused = await post(client, RATE)
        assert refused.status_code == 429
        body = refused.json()
        assert "data" not in body
        assert [err["extensions"]["code"] for err in body["errors"]] == ["RATE_LIMITED"]
        assert "per hour" in body["errors"][0]["message"]
        # 1 point refills in 1,200 s at 3 points an hour
        assert 1100 <= int(refused.headers["retry-after"]) <= 1200
        assert refused.headers["x-ratelimit-remaining"] == "0"
        # one log line for it, no traceback
        [line] = [r for r in caplog.records if r.name == "gateway.errors"]
        assert line.getMessage().endswith("RATE_LIMITED")
        assert line.exc_info is None

    # another key of the same account has its own budget
    async with clients([app], services, account_id) as [other]:
        assert (await post(other, RATE)).status_code == 200


async def test_an_operation_dearer_than_the_budget_never_runs(
    app_and_services: tuple[Any, Services], account_id: str
) -> None:
    app, services = app_and_services
    async with clients([app], services, account_id, points_per_hour=50) as [client]:
        refused = await post(client, DEEP)
        assert refused.status_code == 429
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert "costs 101 points, more than this API key may spend per hour" in error["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60  # the minute bucket to refill
        # nothing was taken
        assert (await post(client, RATE)).json()["data"]["rateLimit"]["remaining"] == 49


async def test_the_per_minute_limit(settings: Settings, account_id: str) -> None:
    async with (
        gateway(settings, rate_limit_points_per_minute=2) as (app, services),
        clients([app], services, account_id) as [client],
    ):
        assert [(await post(client, RATE)).status_code for _ in "ab"] == [200, 200]
        refused = await post(client, RATE)
        assert refused.status_code == 429
        assert "per minute" in refused.json()["errors"][0]["message"]
        assert int(refused.headers["retry-after"]) <= 30  # one point refills in 30 s
        assert int(refused.headers["x-ratelimit-remaining"]) == 4998  # the hour has points


async def test_ingest_keys_are_limited_by_events_per_second(
    settings: Settings, account_id: str
) -> None:
    # one event a second: the bucket still holds one full batch (1,000 events)
    async with gateway(settings, rate_limit_ingest_events_per_second=1) as (app, services):
        batch = [e.ev("appUpserted", appId="slack", name="Slack") for _ in range(600)]
        async with clients([app], services, account_id, role="ingest") as [client]:
            first = await post(client, e.INGEST, events=batch)
            assert first.status_code == 200, first.text
            assert first.json()["data"]["ingestEvents"]["accepted"] == 600
            assert first.headers["x-ratelimit-resource"] == "ingest"
            assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == (
                "1000",
                "400",
            )
            refused = await post(client, e.INGEST, events=batch)
            assert refused.status_code == 429
            assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            assert 190 <= int(refused.headers["retry-after"]) <= 200  # 200 events at 1/s
        async with clients([app], services, account_id) as [viewer]:
            assert (await post(viewer, RATE)).status_code == 200  # queries are apart


async def test_ingest_events_cannot_carry_other_fields_past_the_points_buckets(
    settings: Settings, account_id: str
) -> None:
    # A mutation charged by events must not read (or act) at the events' price
    smuggled = (
        "mutation M($events: [IngestEvent!]!) { ingestEvents(events: $events) { accepted }"
        ' other: disableIntegration(integrationId: "x") { status } }'
    )
    async with (
        gateway(settings) as (app, services),
        clients([app], services, account_id, role="admin") as [client],
    ):
        refused = await post(client, smuggled, events=[])
        errors = refused.json()["errors"]
        assert [err["extensions"]["code"] for err in errors] == ["BAD_USER_INPUT"]
        assert "only field" in errors[0]["message"]
        assert "x-ratelimit-resource" not in refused.headers  # refused before any charge


async def _concurrent(clients: list[httpx.AsyncClient], n: int) -> list[int]:
    responses = await asyncio.gather(*(post(clients[i % len(clients)], RATE) for i in range(n)))
    return sorted(r.status_code for r in responses)


async def test_concurrent_requests_spend_the_budget_once(
    app_and_services: tuple[Any, Services], account_id: str
) -> None:
    app, services = app_and_services
    async with clients([app], services, account_id, points_per_hour=10) as made:
        assert await _concurrent(made, 25) == [200] * 10 + [429] * 15


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:  # noqa: F811
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_processes_share_one_budget_through_redis(
    settings: Settings,
    account_id: str,
    redis_url: str,  # noqa: F811
    redis_prefix: str,
) -> None:
    # given two gateway processes whose buckets are in the same Redis
    async with (
        gateway(settings, RedisBuckets(redis_url, prefix=redis_prefix)) as (first, services),
        gateway(settings, RedisBuckets(redis_url, prefix=redis_prefix)) as (second, _),
        clients([first, second], services, account_id, points_per_hour=10) as made,
    ):
        # when a key sends 25 requests at once, spread over both
        # then exactly its 10 points' worth pass, whichever process took them
        assert await _concurrent(made, 25) == [200] * 10 + [429] * 15
        refused = await post(made[1], RATE)
        assert refused.status_code == 429
        assert refused.headers["x-ratelimit-remaining"] == "0"
    client = Redis.from_url(redis_url)
    try:
        assert [key async for key in client.scan_iter(f"{redis_prefix}:*")], "buckets in Redis"
    finally:
        await client.aclose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_redis_fails_open_with_one_warning(
    settings: Settings, account_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisBuckets(f"redis://127.0.0.1:{_closed_port()}/0", retry_after=0.0)
    async with (
        gateway(settings, store) as (app, services),
        clients([app], services, account_id, points_per_hour=1) as [client],
    ):
        with caplog.at_level(logging.INFO, logger="gateway.ratelimit"):
            answers = [await post(client, RATE) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert all(r.json() == {"data": {"rateLimit": None}} for r in answers)
    assert not any(name.startswith("x-ratelimit") for name in answers[0].headers)
    warnings = [r for r in caplog.records if r.name == "gateway.ratelimit"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].levelno == logging.WARNING
    assert "not limited" in warnings[0].getMessage()


async def test_rate_limits_can_be_turned_off(settings: Settings, account_id: str) -> None:
    async with (
        gateway(settings, rate_limits=False) as (app, services),
        clients([app], services, account_id, points_per_hour=1) as [client],
    ):
        assert await _concurrent([client], 3) == [200] * 3


async def test_in_process_buckets_refill(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.ratelimit import buckets as module
    from gateway.ratelimit.buckets import Bucket

    clock = [1000.0]
    monkeypatch.setattr(module.time, "time", lambda: clock[0])
    store, bucket = MemoryBuckets(), [Bucket("k", 10, 2)]
    assert (await store.take(bucket, 10)).allowed
    taken = await store.take(bucket, 1)
    assert not taken.allowed
    assert taken.wait(bucket, 1) == 0.5
    clock[0] += 0.5
    assert (await store.take(bucket, 1)).allowed
    assert math.isinf(taken.wait(bucket, 11))


def test_keys_create_points_per_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    get_settings.cache_clear()
    try:
        create = ["keys", "create", "--account", "a", "--role", "viewer"]
        assert main([*create, "--points-per-hour", "7"]) == 0
        assert main(create) == 0
        capsys.readouterr()
        assert main(["keys", "list"]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
        assert sorted(row[4] for row in rows) == ["7", "default"]
        with pytest.raises(SystemExit) as refused:
            main([*create, "--points-per-hour", "0"])
        assert refused.value.code == 2
    finally:
        get_settings.cache_clear()


async def test_browsers_may_read_the_rate_limit_headers(
    settings: Settings, account_id: str
) -> None:
    origin = "https://dashboard.example.com"
    async with (
        gateway(settings, cors_origins=[origin]) as (app, services),
        clients([app], services, account_id) as [client],
    ):
        response = await client.post("/graphql", json={"query": RATE}, headers={"Origin": origin})
    exposed = response.headers["access-control-expose-headers"].lower().split(", ")
    assert {"x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"} <= set(exposed)


async def test_a_burst_waits_for_redis_connections_instead_of_failing_open(
    redis_url: str,  # noqa: F811
    redis_prefix: str,
) -> None:
    from gateway.ratelimit.buckets import Bucket

    store = RedisBuckets(redis_url, prefix=redis_prefix, max_connections=4)
    try:
        bucket = [Bucket("{burst}:hour", 100, 100 / 3600)]
        taken = await asyncio.gather(*(store.take(bucket, 1) for _ in range(500)))
    finally:
        await store.close()
    assert None not in taken  # every one was charged, none let through unlimited
    assert sum(t.allowed for t in taken if t is not None) == 100
