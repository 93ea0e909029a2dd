"""Error notifications end to end: settings, what notifies, folding, signed delivery to a real
receiver, retries, 410, redirects, redelivery and the test notification (SPEC §4)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.notify_support import (
    Clock,
    Receiver,
    clients,
    configure,
    deliveries,
    failing_run,
    notify_app,
    notify_settings,
    receiver,
    verify,
)


@pytest.fixture(scope="module")
async def app_services(database_url: str) -> AsyncIterator[tuple[Any, Services]]:
    async with notify_app(notify_settings(database_url)) as pair:
        yield pair


@pytest.fixture
def clock(app_services: tuple[Any, Services]) -> Clock:
    worker = app_services[1].notifier
    worker.clock = clock = Clock()
    worker.jitter = lambda: 1.0
    return clock


@pytest.fixture
async def api(
    app_services: tuple[Any, Services], account_id: str
) -> AsyncIterator[tuple[Api, Api]]:
    async with clients(app_services, account_id) as pair:
        yield pair


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


async def _setup(ingester: Api, *integrations: str) -> None:
    batch = [e.flow()] + [e.integration(i) for i in integrations]
    await ingester.data(e.INGEST, {"events": batch})


async def _ingest(ingester: Api, batch: list[dict[str, Any]]) -> None:
    result = (await ingester.data(e.INGEST, {"events": batch}))["ingestEvents"]
    assert not result["rejected"], result


async def _deliver(services: Services, rounds: int = 1) -> int:
    total = 0
    for _ in range(rounds):
        total += await services.notifier.run_once()
    return total


async def test_a_failed_run_is_posted_signed_with_its_failed_step(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    config = await configure(admin, webhookUrl=hook.url)
    assert config["enabled"] is True
    secret = config["signingSecret"]
    assert secret.startswith("whsec_")
    viewer_view = await admin.data("{ viewer { errorNotifications { enabled signingSecret } } }")
    assert viewer_view["viewer"]["errorNotifications"] == {"enabled": True, "signingSecret": None}

    await _setup(ingester, "int-1")
    await _ingest(ingester, failing_run("run-1", "int-1"))
    assert await _deliver(services) >= 1

    [request] = hook.received
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_")
    assert abs(int(request.headers["webhook-timestamp"]) - clock.now.timestamp()) < 2
    assert verify(secret, request.headers, request.body) == 1
    body = json.loads(request.body)
    assert body["type"] == "run.failed"
    assert body["count"] == 1
    assert body["flow"] == {"flowId": "flow-1", "name": "Sync contacts"}
    assert body["integration"]["integrationId"] == "int-1"
    assert body["run"]["runId"] == "run-1"
    assert body["run"]["status"] == "FAILED"
    assert body["url"] == "https://dash.test/flows/flow-1/integrations/int-1/runs/run-1"
    assert body["logsUrl"] == "https://dash.test/logs?runId=run-1"
    step = body["failedStep"]
    assert (step["stepId"], step["networkCode"], step["networkCodeText"]) == (
        "run-1-s0",
        404,
        "404 Not Found",
    )
    assert "contact not found" in step["errorExcerpt"]

    [delivery] = await deliveries(admin)
    assert delivery["id"] == request.headers["webhook-id"]
    assert delivery["status"] == "DELIVERED"
    assert [a["responseCode"] for a in delivery["attempts"]] == [200]


async def test_failures_retry_on_the_schedule_with_one_webhook_id_and_one_body(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    secret = (await configure(admin, webhookUrl=hook.url))["signingSecret"]
    await _setup(ingester, "int-1")
    await _ingest(ingester, failing_run("run-1", "int-1"))
    hook.answer(500)
    hook.answer(503)
    await _deliver(services)
    assert len(hook.received) == 1
    await _deliver(services)  # not due yet: 5 s later
    assert len(hook.received) == 1
    clock.advance(5)
    await _deliver(services)
    assert len(hook.received) == 2
    clock.advance(299)
    await _deliver(services)
    assert len(hook.received) == 2
    clock.advance(1)
    await _deliver(services)
    assert len(hook.received) == 3
    ids = {r.headers["webhook-id"] for r in hook.received}
    assert len(ids) == 1
    assert len({r.body for r in hook.received}) == 1
    assert all(verify(secret, r.headers, r.body) == 1 for r in hook.received)
    [delivery] = await deliveries(admin)
    assert delivery["status"] == "DELIVERED"
    assert [a["responseCode"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["attempts"][0]["error"] == "HTTP 500"
    assert delivery["attempts"][0]["nextAttemptAt"] is not None
    assert delivery["attempts"][2]["nextAttemptAt"] is None


async def test_a_redirect_is_a_failure_and_is_not_followed(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    await configure(admin, webhookUrl=hook.url)
    await _setup(ingester, "int-1")
    await _ingest(ingester, failing_run("run-1", "int-1"))
    hook.answer(302, {"location": hook.url + "/elsewhere"})
    await _deliver(app_services[1])
    assert [r.path for r in hook.received] == ["/hook"]
    [delivery] = await deliveries(admin)
    assert delivery["status"] == "PENDING"
    assert delivery["attempts"][0]["responseCode"] == 302
    assert "not followed" in delivery["attempts"][0]["error"]


async def test_410_disables_the_endpoint(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    await configure(admin, webhookUrl=hook.url)
    await _setup(ingester, "int-1")
    await _ingest(ingester, failing_run("run-1", "int-1"))
    hook.answer(410)
    await _deliver(app_services[1])
    [delivery] = await deliveries(admin)
    assert delivery["status"] == "FAILED"
    view = await admin.data("{ viewer { errorNotifications { enabled disabledReason } } }")
    assert view["viewer"]["errorNotifications"] == {"enabled": False, "disabledReason": "GONE"}
    # Nothing more is queued while it is off; enabling again clears the reason.
    await _ingest(ingester, failing_run("run-2", "int-1", start=100))
    assert len(await deliveries(admin)) == 1
    again = await configure(admin, enabled=True)
    assert (again["enabled"], again["disabledReason"]) == (True, None)
