"""Error notifications end to end: settings, what notifies, folding, signed delivery to a real
receiver, retries, 410, redirects, redelivery and the test notification (SPEC §4)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from gateway.db import tables as t
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
    ok_run,
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


async def test_a_storm_folds_into_one_notification_then_one_follow_up(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 0) { accountId } }")
    await configure(admin, webhookUrl=hook.url, minIntervalSeconds=900)
    await _setup(ingester, "int-1")
    storm = [ev for i in range(50) for ev in failing_run(f"run-{i}", "int-1", start=10 + 5 * i)]
    await _ingest(ingester, storm)
    await _deliver(services)
    [first] = hook.received
    body = json.loads(first.body)
    assert body["count"] == 50
    assert body["firstOccurredAt"] == e.at(12)
    assert body["lastOccurredAt"] == e.at(10 + 5 * 49 + 2)
    assert body["run"]["runId"] == "run-49"
    # Within the interval: counted into one follow-up, sent when the interval ends.
    await _ingest(ingester, failing_run("late-0", "int-1", start=1000))
    # Two more in one batch, into the follow-up an earlier transaction wrote.
    await _ingest(
        ingester,
        failing_run("late-1", "int-1", start=1005) + failing_run("late-2", "int-1", start=1010),
    )
    await _deliver(services)
    assert len(hook.received) == 1
    clock.advance(901)
    await _deliver(services)
    assert len(hook.received) == 2
    follow_up = json.loads(hook.received[1].body)
    assert (follow_up["type"], follow_up["count"]) == ("run.failed", 3)
    assert follow_up["run"]["runId"] == "late-2"
    assert hook.received[0].headers["webhook-id"] != hook.received[1].headers["webhook-id"]


async def test_recovery_pause_and_failed_initialization_notify(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 2) { accountId } }")
    await configure(admin, webhookUrl=hook.url, minIntervalSeconds=0)
    await _setup(ingester, "int-1", "int-2")
    await _ingest(ingester, ok_run("ok-0", "int-1", start=5))  # OK without a failure: silent
    await _ingest(ingester, failing_run("run-1", "int-1", start=10))
    await _deliver(services)
    await _ingest(ingester, ok_run("run-2", "int-1", start=20))
    await _ingest(ingester, ok_run("run-3", "int-1", start=30))  # still OK: nothing more
    await _deliver(services)
    await _ingest(ingester, failing_run("run-4", "int-1", start=40))
    await _deliver(services)
    await _ingest(ingester, failing_run("run-5", "int-1", start=50))  # second in a row: paused
    await _ingest(
        ingester,
        [
            e.ev(
                "integrationStatusChanged", 60, integrationId="int-2", status="FAILED_TO_INITIALIZE"
            )
        ],
    )
    await _deliver(services, rounds=2)
    types = [json.loads(r.body)["type"] for r in hook.received]
    assert types[:3] == ["run.failed", "run.recovered", "run.failed"]
    assert sorted(types[3:]) == [
        "integration.failed_to_initialize",
        "integration.paused",
        "run.failed",
    ]
    paused = next(json.loads(r.body) for r in hook.received if b"integration.paused" in r.body)
    assert paused["reason"] == "TOO_MANY_ERRORS"
    assert paused["integration"]["status"] == "PAUSED"
    recovered = json.loads(hook.received[1].body)
    assert recovered["run"]["runId"] == "run-2"


async def test_task_limit_80_and_100_once_per_period_and_no_billing_pause_notice(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    await configure(admin, webhookUrl=hook.url)
    await _setup(ingester, "int-1")
    await admin.data('mutation { setTaskLimit(userId: "user@example.com", limit: 10) { userId } }')
    start = (clock.now - e.T0).total_seconds()

    def steps(run: str, first: int, n: int) -> list[dict[str, Any]]:
        return [e.run_started(run, "int-1", start)] + [
            e.step_finished(f"{run}-{i}", run, i, start, start + 1) for i in range(first, first + n)
        ]

    await _ingest(ingester, steps("r1", 0, 7))
    assert await deliveries(admin) == []
    await _ingest(ingester, steps("r1", 7, 1))  # 8 of 10
    # A repeated stepFinished that fails, then succeeds again, crosses 80 % twice: told once.
    await _ingest(ingester, [e.step_finished("r1-7", "r1", 7, start, start + 1, "FAILED", 500)])
    await _ingest(ingester, [e.step_finished("r1-7", "r1", 7, start, start + 2)])
    await _ingest(ingester, steps("r1", 8, 2))  # 10 of 10: paused for BILLING
    types = sorted(d["type"] for d in await deliveries(admin))
    assert types == ["END_USER_TASK_LIMIT_100", "END_USER_TASK_LIMIT_80"]
    await _deliver(app_services[1])
    hundred = next(json.loads(r.body) for r in hook.received if b"task_limit_100" in r.body)
    assert hundred["endUser"]["userId"] == "user@example.com"
    assert (hundred["endUser"]["taskLimit"], hundred["endUser"]["tasksConsumedInPeriod"]) == (
        10,
        10,
    )


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    old = (await configure(admin, webhookUrl=hook.url))["signingSecret"]
    again = await configure(admin, minIntervalSeconds=60)
    assert again["signingSecret"] is None  # shown only when made
    rotated = await configure(admin, rotateSecret=True)
    new = rotated["signingSecret"]
    assert new.startswith("whsec_")
    assert new != old
    assert rotated["previousSecretExpiresAt"] is not None
    await _setup(ingester, "int-1")
    await _ingest(ingester, failing_run("run-1", "int-1"))
    await _deliver(app_services[1])
    [request] = hook.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verify(old, request.headers, request.body) == 1
    assert verify(new, request.headers, request.body) == 1


async def test_flow_scope_and_off_switch(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    await ingester.data(e.INGEST, {"events": [e.flow("flow-2", "Other")]})
    await _setup(ingester, "int-1")
    assert await admin.error_codes(
        "mutation($i: ErrorNotificationsInput!) { setErrorNotifications(input: $i) { enabled } }",
        {"i": {"webhookUrl": hook.url, "flowIds": ["nope"]}},
    ) == ["NOT_FOUND"]
    scoped = await configure(admin, webhookUrl=hook.url, flowIds=["flow-2"])
    assert scoped["flowIds"] == ["flow-2"]
    await _ingest(ingester, failing_run("run-1", "int-1"))
    assert await deliveries(admin) == []
    await configure(admin, flowIds=None, enabled=False)
    await _ingest(ingester, failing_run("run-2", "int-1", start=20))
    assert await deliveries(admin) == []
    await configure(admin, enabled=True)
    await _ingest(ingester, failing_run("run-3", "int-1", start=30))
    assert [d["runId"] for d in await deliveries(admin)] == ["run-3"]


async def test_send_test_notification_and_redeliver(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, _ = api
    assert await admin.error_codes("mutation { sendTestNotification { id } }") == ["BAD_USER_INPUT"]
    secret = (await configure(admin, webhookUrl=hook.url))["signingSecret"]
    hook.answer(500)
    sent = (
        await admin.data(
            "mutation { sendTestNotification { id type status attempts { responseCode } } }"
        )
    )["sendTestNotification"]
    assert (sent["type"], sent["status"]) == ("TEST", "PENDING")
    assert [a["responseCode"] for a in sent["attempts"]] == [500]
    again = (
        await admin.data(
            "mutation($id: ID!) { redeliverNotification(id: $id) { id status nextAttemptAt } }",
            {"id": sent["id"]},
        )
    )["redeliverNotification"]
    assert again["id"] == sent["id"]
    await _deliver(app_services[1])
    assert [r.headers["webhook-id"] for r in hook.received] == [sent["id"], sent["id"]]
    assert verify(secret, hook.received[1].headers, hook.received[1].body) == 1
    assert json.loads(hook.received[0].body)["type"] == "notification.test"
    [delivery] = await deliveries(admin, filter={"type": ["TEST"], "status": ["DELIVERED"]})
    assert [a["responseCode"] for a in delivery["attempts"]] == [500, 200]
    assert await admin.error_codes('mutation { redeliverNotification(id: "msg_nope") { id } }') == [
        "NOT_FOUND"
    ]
    # A notification a worker holds is not requeued under it (checked in the update)
    redeliver = "mutation($id: ID!) { redeliverNotification(id: $id) { id } }"
    async with app_services[1].db.transaction() as conn:
        await conn.execute(
            update(t.notifications)
            .where(t.notifications.c.webhook_id == sent["id"])
            .values(lease_until=clock.now + timedelta(minutes=1), claim_token="held")
        )
    assert await admin.error_codes(redeliver, {"id": sent["id"]}) == ["CONFLICT"]


async def test_deliveries_page_and_filter(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    await configure(admin, webhookUrl=hook.url)
    await _setup(ingester, "int-1", "int-2", "int-3")
    for i in (1, 2, 3):
        await _ingest(ingester, failing_run(f"run-{i}", f"int-{i}", start=10 * i))
    data = await admin.data(
        "query { notificationDeliveries(first: 2) { totalCount pageInfo { hasNextPage endCursor }"
        " nodes { runId } } }"
    )
    page = data["notificationDeliveries"]
    assert page["totalCount"] == 3
    assert [n["runId"] for n in page["nodes"]] == ["run-3", "run-2"]
    rest = await deliveries(admin, first=2, after=page["pageInfo"]["endCursor"])
    assert [n["runId"] for n in rest] == ["run-1"]
    only = await deliveries(admin, filter={"integrationId": ["int-2"]})
    assert [n["runId"] for n in only] == ["run-2"]
    assert await admin.error_codes("query { notificationDeliveries(first: 0) { totalCount } }") == [
        "BAD_USER_INPUT"
    ]
