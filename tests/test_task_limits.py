"""Task limits per end-user: pausing at the limit, resuming, periods (SPEC §3, §8 "Tasks")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from gateway.actions.service import start_new_periods
from gateway.db import tables as t
from gateway.services import Services
from tests import events as e
from tests.conftest import Api

USER = """query($u: String!) { endUser(userId: $u) { userId tasksConsumed tasksConsumedInPeriod
  taskLimit tasksRemaining limitPeriodDays limitResetsAt status } }"""

STATE = """query($id: String!) { integration(integrationId: $id) { status pausedReason
  statusHistory { nodes { from to reason actor actorKind } } } }"""

SET_LIMIT = """mutation($u: String!, $limit: Int, $days: Int) {
  setTaskLimit(userId: $u, limit: $limit, periodDays: $days) {
    userId taskLimit tasksRemaining tasksConsumedInPeriod limitPeriodDays limitResetsAt status
  } }"""

ANN = "ann@example.com"


def _now_offset(extra: float = 60) -> float:
    """Seconds after the events' T0 of a moment just after now: billing pauses happen when a
    batch is ingested, so a run refused by one must start after that."""
    return (datetime.now(UTC) - e.T0).total_seconds() + extra


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _ingest(ingester: Api, batch: list[Any]) -> dict[str, Any]:
    result: dict[str, Any] = (await ingester.data(e.INGEST, {"events": batch}))["ingestEvents"]
    return result


async def _user(api: Api, user_id: str = ANN) -> dict[str, Any]:
    user: dict[str, Any] = (await api.data(USER, {"u": user_id}))["endUser"]
    return user


async def _state(api: Api, integration: str) -> tuple[str, str | None]:
    data = (await api.data(STATE, {"id": integration}))["integration"]
    return data["status"], data["pausedReason"]


async def _set_limit(
    admin: Api, limit: int | None, days: int | None = None, user: str = ANN
) -> dict[str, Any]:
    data: dict[str, Any] = (await admin.data(SET_LIMIT, {"u": user, "limit": limit, "days": days}))[
        "setTaskLimit"
    ]
    return data


_run_ids = iter(range(10**6))


def _tasks(integration: str, count: int, start: float = 10) -> list[Any]:
    """A run of ``count`` OK steps (one task each)."""
    run_id = f"{integration}-r{next(_run_ids)}"
    batch = [e.run_started(run_id, integration, start)]
    batch += [
        e.step_finished(f"{run_id}-s{p}", run_id, p, start + p, start + p + 0.5)
        for p in range(1, count + 1)
    ]
    return batch


async def _setup(ingester: Api) -> None:
    """ann has two integrations in flow-1 (one disabled) and one in flow-2; bob has one."""
    batch = [
        e.flow("flow-1"),
        e.flow("flow-2"),
        e.integration("ann-1", "flow-1", user_id=ANN),
        e.integration("ann-off", "flow-1", user_id=ANN),
        e.integration("ann-2", "flow-2", user_id=ANN),
        e.integration("bob-1", "flow-1", user_id="bob"),
        e.ev("integrationStatusChanged", 2, integrationId="ann-off", status="DISABLED"),
    ]
    assert (await _ingest(ingester, batch))["rejected"] == []


async def test_set_task_limit_validation(ingester: Api, admin: Api, viewer: Api) -> None:
    await _setup(ingester)
    codes = await admin.error_codes(SET_LIMIT, {"u": "nobody", "limit": 5, "days": None})
    assert codes == ["NOT_FOUND"]
    codes = await admin.error_codes(SET_LIMIT, {"u": "nobody", "limit": None, "days": None})
    assert codes == ["NOT_FOUND"]
    for limit, days in ((-1, None), (5, 0), (5, -3), (5, 3661)):
        codes = await admin.error_codes(SET_LIMIT, {"u": ANN, "limit": limit, "days": days})
        assert codes == ["BAD_USER_INPUT"], (limit, days)
    user = await _user(admin)
    assert (user["taskLimit"], user["limitPeriodDays"], user["limitResetsAt"]) == (None,) * 3
    codes = await viewer.error_codes(SET_LIMIT, {"u": ANN, "limit": 5, "days": None})
    assert codes == ["FORBIDDEN"]
    before = datetime.now(UTC)
    data = await _set_limit(admin, 5, 7)
    assert data["taskLimit"] == 5
    assert data["limitPeriodDays"] == 7
    assert data["tasksRemaining"] == 5
    assert data["tasksConsumedInPeriod"] == 0
    resets = _parse(data["limitResetsAt"])
    assert before + timedelta(days=7) - timedelta(seconds=1) <= resets
    assert resets <= datetime.now(UTC) + timedelta(days=7)
    # The default period is 30 days.
    data = await _set_limit(admin, 5, None, user="bob")
    assert data["limitPeriodDays"] == 30


async def test_reaching_the_limit_pauses_enabled_integrations(ingester: Api, admin: Api) -> None:
    await _setup(ingester)
    await _set_limit(admin, 5)
    await _ingest(ingester, _tasks("ann-1", 2) + _tasks("ann-2", 2, 20))
    user = await _user(admin)
    assert (user["tasksConsumed"], user["tasksConsumedInPeriod"], user["tasksRemaining"]) == (
        4,
        4,
        1,
    )
    assert user["status"] == "ACTIVE"
    assert await _state(admin, "ann-1") == ("ENABLED", None)
    # The fifth task reaches the limit exactly.
    await _ingest(ingester, _tasks("ann-1", 1, 30))
    user = await _user(admin)
    assert (user["tasksConsumedInPeriod"], user["tasksRemaining"], user["status"]) == (
        5,
        0,
        "PAUSED",
    )
    for integration in ("ann-1", "ann-2"):
        assert await _state(admin, integration) == ("PAUSED", "BILLING")
        history = (await admin.data(STATE, {"id": integration}))["integration"]["statusHistory"]
        assert history["nodes"][0] == {
            "from": "ENABLED",
            "to": "PAUSED",
            "reason": "BILLING",
            "actor": "task-limit",
            "actorKind": "TASK_LIMIT",
        }
    assert await _state(admin, "ann-off") == ("DISABLED", None)
    assert await _state(admin, "bob-1") == ("ENABLED", None)
    # No more triggers for ann.
    start = _now_offset()
    result = await _ingest(
        ingester, [e.run_started("late-1", "ann-1", start), e.run_started("bob-r", "bob-1", start)]
    )
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (0, "INTEGRATION_NOT_RECEIVING")
    ]
    assert result["accepted"] == 1


async def test_limit_reached_within_one_batch(ingester: Api, admin: Api) -> None:
    await _setup(ingester)
    await _set_limit(admin, 3)
    start = _now_offset()
    # Tasks are counted as ingested: the batch reaches the limit and its later runStarted is
    # refused.
    batch = [*_tasks("ann-2", 3, start), e.run_started("after", "ann-1", start + 30)]
    result = await _ingest(ingester, batch)
    assert [r["code"] for r in result["rejected"]] == ["INTEGRATION_NOT_RECEIVING"]
    assert await _state(admin, "ann-1") == ("PAUSED", "BILLING")
    user = await _user(admin)
    assert (user["tasksConsumed"], user["tasksRemaining"]) == (3, 0)


async def test_raising_the_limit_resumes(ingester: Api, admin: Api) -> None:
    await _setup(ingester)
    await _set_limit(admin, 2)
    await _ingest(ingester, _tasks("ann-1", 3))
    assert await _state(admin, "ann-1") == ("PAUSED", "BILLING")
    data = await _set_limit(admin, 3)
    # The same period goes on: 3 tasks consumed, a limit of 3 is still reached.
    assert (data["tasksConsumedInPeriod"], data["tasksRemaining"], data["status"]) == (
        3,
        0,
        "PAUSED",
    )
    data = await _set_limit(admin, 10)
    assert (data["tasksConsumedInPeriod"], data["tasksRemaining"], data["status"]) == (
        3,
        7,
        "ACTIVE",
    )
    assert await _state(admin, "ann-1") == ("ENABLED", None)
    assert await _state(admin, "ann-2") == ("ENABLED", None)
    assert await _state(admin, "ann-off") == ("DISABLED", None)
    history = (await admin.data(STATE, {"id": "ann-1"}))["integration"]["statusHistory"]
    assert (history["nodes"][0]["to"], history["nodes"][0]["actor"]) == ("ENABLED", "task-limit")
    start = _now_offset()
    result = await _ingest(ingester, [e.run_started("resumed", "ann-1", start)])
    assert result["rejected"] == []


async def test_removing_the_limit_resumes(ingester: Api, admin: Api) -> None:
    await _setup(ingester)
    await _set_limit(admin, 1)
    await _ingest(ingester, _tasks("ann-1", 1))
    assert await _state(admin, "ann-2") == ("PAUSED", "BILLING")
    data = await _set_limit(admin, None)
    assert data == {
        "userId": ANN,
        "taskLimit": None,
        "tasksRemaining": None,
        "tasksConsumedInPeriod": 0,
        "limitPeriodDays": None,
        "limitResetsAt": None,
        "status": "ACTIVE",
    }
    assert await _state(admin, "ann-1") == ("ENABLED", None)
    assert await _state(admin, "ann-2") == ("ENABLED", None)
    assert await _state(admin, "ann-off") == ("DISABLED", None)
    # Without a limit, tasks are still counted all-time, and nothing pauses.
    await _ingest(ingester, _tasks("ann-1", 4, 50))
    user = await _user(admin)
    assert (user["tasksConsumed"], user["status"]) == (5, "ACTIVE")


async def test_auto_paused_integration_is_not_resumed_by_the_limit(
    ingester: Api, admin: Api
) -> None:
    await _setup(ingester)
    await _ingest(
        ingester,
        [
            e.ev(
                "integrationStatusChanged",
                5,
                integrationId="ann-2",
                status="PAUSED",
                reason="TOO_MANY_ERRORS",
            )
        ],
    )
    await _set_limit(admin, 1)
    await _ingest(ingester, _tasks("ann-1", 1))
    assert await _state(admin, "ann-1") == ("PAUSED", "BILLING")
    await _set_limit(admin, None)
    assert await _state(admin, "ann-1") == ("ENABLED", None)
    assert await _state(admin, "ann-2") == ("PAUSED", "TOO_MANY_ERRORS")


async def test_lower_limit_than_consumed_pauses_at_once(ingester: Api, admin: Api) -> None:
    await _setup(ingester)
    await _set_limit(admin, 10)
    await _ingest(ingester, _tasks("ann-1", 4))
    data = await _set_limit(admin, 3)
    assert (data["tasksConsumedInPeriod"], data["tasksRemaining"], data["status"]) == (
        4,
        0,
        "PAUSED",
    )
    assert await _state(admin, "ann-1") == ("PAUSED", "BILLING")
    assert await _state(admin, "ann-2") == ("PAUSED", "BILLING")
    assert await _state(admin, "ann-off") == ("DISABLED", None)
    # A limit of 0 allows nothing.
    data = await _set_limit(admin, 0, user="bob")
    assert (data["tasksRemaining"], data["status"]) == (0, "PAUSED")


async def test_tasks_before_the_limit_do_not_count_in_its_period(ingester: Api, admin: Api) -> None:
    await _setup(ingester)
    await _ingest(ingester, _tasks("ann-1", 4))
    data = await _set_limit(admin, 3)
    assert (data["tasksConsumedInPeriod"], data["tasksRemaining"], data["status"]) == (
        0,
        3,
        "ACTIVE",
    )
    user = await _user(admin)
    assert user["tasksConsumed"] == 4


async def test_changing_the_period_length_starts_a_new_period(ingester: Api, admin: Api) -> None:
    await _setup(ingester)
    await _set_limit(admin, 2, 30)
    await _ingest(ingester, _tasks("ann-1", 2))
    assert await _state(admin, "ann-1") == ("PAUSED", "BILLING")
    data = await _set_limit(admin, 2, 7)
    assert (data["tasksConsumedInPeriod"], data["limitPeriodDays"], data["status"]) == (
        0,
        7,
        "ACTIVE",
    )
    assert await _state(admin, "ann-1") == ("ENABLED", None)


async def test_period_reset_by_the_sweep(services: Services, ingester: Api, admin: Api) -> None:
    await _setup(ingester)
    data = await _set_limit(admin, 2, 7)
    resets_at = _parse(data["limitResetsAt"])
    await _ingest(ingester, _tasks("ann-1", 2))
    assert await _state(admin, "ann-1") == ("PAUSED", "BILLING")
    assert await _state(admin, "ann-2") == ("PAUSED", "BILLING")
    # A person disables one of the paused integrations meanwhile.
    data = await admin.data('mutation { disableIntegration(integrationId: "ann-2") { status } }')
    assert data["disableIntegration"]["status"] == "DISABLED"
    # Before the period ends nothing changes.
    changes = await start_new_periods(services.db, now=resets_at - timedelta(seconds=1))
    assert [c for c in changes if c.account_id == admin.account_id] == []
    assert await _state(admin, "ann-1") == ("PAUSED", "BILLING")
    changes = await start_new_periods(services.db, now=resets_at + timedelta(seconds=1))
    mine = [
        (c.object_id, c.previous, c.status, c.reason)
        for c in changes
        if c.account_id == admin.account_id
    ]
    assert mine == [("ann-1", "PAUSED", "ENABLED", None)]
    assert await _state(admin, "ann-1") == ("ENABLED", None)
    assert await _state(admin, "ann-2") == ("DISABLED", None)
    assert await _state(admin, "ann-off") == ("DISABLED", None)
    user = await _user(admin)
    assert _parse(user["limitResetsAt"]) == resets_at + timedelta(days=7)
    assert (user["tasksConsumedInPeriod"], user["tasksRemaining"], user["status"]) == (
        0,
        2,
        "ACTIVE",
    )
    assert user["tasksConsumed"] == 2
    # Running the sweep again changes nothing.
    changes = await start_new_periods(services.db, now=resets_at + timedelta(seconds=2))
    assert [c for c in changes if c.account_id == admin.account_id] == []
    # The new period counts from 0: one more task does not pause, two do.
    await _ingest(ingester, _tasks("ann-1", 1, 40))
    assert await _state(admin, "ann-1") == ("ENABLED", None)
    await _ingest(ingester, _tasks("ann-1", 1, 50))
    assert await _state(admin, "ann-1") == ("PAUSED", "BILLING")


async def test_sweep_skips_several_ended_periods(
    services: Services, ingester: Api, admin: Api
) -> None:
    await _setup(ingester)
    data = await _set_limit(admin, 1, 3)
    resets_at = _parse(data["limitResetsAt"])
    await _ingest(ingester, _tasks("ann-1", 1))
    await start_new_periods(services.db, now=resets_at + timedelta(days=7))
    user = await _user(admin)
    # Periods are fixed windows from when the limit was set: ended at +0, +3, +6 days.
    assert _parse(user["limitResetsAt"]) == resets_at + timedelta(days=9)
    assert await _state(admin, "ann-1") == ("ENABLED", None)


async def _end_period_in_the_past(services: Services, account_id: str, user: str = ANN) -> None:
    now = datetime.now(UTC)
    e_ = t.end_users
    async with services.db.transaction(account_id) as conn:
        await conn.execute(
            update(e_)
            .where(e_.c.account_id == account_id, e_.c.user_id == user)
            .values(
                period_start=now - timedelta(days=7, hours=1),
                period_end=now - timedelta(hours=1),
            )
        )


async def test_ingest_after_the_period_end_rolls_it(
    services: Services, ingester: Api, admin: Api
) -> None:
    await _setup(ingester)
    await _set_limit(admin, 3, 7)
    await _ingest(ingester, _tasks("ann-1", 2))
    await _end_period_in_the_past(services, admin.account_id)
    user = await _user(admin)
    assert user["tasksConsumedInPeriod"] == 0  # the stored period is over
    # Two tasks in the new period: below the limit of 3 (they would reach it in the old one).
    await _ingest(ingester, _tasks("ann-2", 2, 40))
    assert await _state(admin, "ann-2") == ("ENABLED", None)
    user = await _user(admin)
    assert (user["tasksConsumed"], user["tasksConsumedInPeriod"], user["tasksRemaining"]) == (
        4,
        2,
        1,
    )
    resets = _parse(user["limitResetsAt"])
    now = datetime.now(UTC)
    assert now < resets <= now + timedelta(days=7)


async def test_ingest_after_the_period_end_resumes_billing_paused(
    services: Services, ingester: Api, admin: Api
) -> None:
    await _setup(ingester)
    await _set_limit(admin, 2, 7)
    await _ingest(ingester, _tasks("ann-1", 2))
    assert await _state(admin, "ann-2") == ("PAUSED", "BILLING")
    await admin.data('mutation { disableIntegration(integrationId: "ann-1") { status } }')
    await _end_period_in_the_past(services, admin.account_id)
    # The first trigger after the period's end is taken: the period rolls before it is checked.
    start = _now_offset()
    result = await _ingest(ingester, _tasks("ann-2", 1, start))
    assert result["rejected"] == []
    assert await _state(admin, "ann-2") == ("ENABLED", None)
    assert await _state(admin, "ann-1") == ("DISABLED", None)
    user = await _user(admin)
    assert (user["tasksConsumedInPeriod"], user["status"]) == (1, "ACTIVE")


async def test_refusal_window_of_engine_status_events(ingester: Api) -> None:
    await _setup(ingester)
    result = await _ingest(
        ingester,
        [
            e.ev(
                "integrationStatusChanged",
                100,
                integrationId="bob-1",
                status="PAUSED",
                reason="TOO_MANY_ERRORS",
            ),
            e.ev("integrationStatusChanged", 200, integrationId="bob-1", status="DISABLED"),
        ],
    )
    assert result["rejected"] == []
    result = await _ingest(
        ingester,
        [
            e.run_started("at-150", "bob-1", 150),
            e.run_started("at-100", "bob-1", 100),
            e.run_started("at-50", "bob-1", 50),
        ],
    )
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (0, "INTEGRATION_NOT_RECEIVING"),
        (1, "INTEGRATION_NOT_RECEIVING"),
    ]
    assert result["accepted"] == 1


async def test_a_new_integration_of_a_user_at_the_limit_starts_paused(
    ingester: Api, admin: Api
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-a", user_id="zoe")]})
    await admin.data('mutation { setTaskLimit(userId: "zoe", limit: 0) { status } }')
    await ingester.data(e.INGEST, {"events": [e.integration("int-b", user_id="zoe", t=5)]})
    data = await admin.data(
        '{ integration(integrationId: "int-b") { status pausedReason '
        "statusHistory { nodes { to actor } } } }"
    )
    integration = data["integration"]
    assert (integration["status"], integration["pausedReason"]) == ("PAUSED", "BILLING")
    assert integration["statusHistory"]["nodes"][0] == {"to": "PAUSED", "actor": "task-limit"}


async def test_set_task_limit_on_an_impossible_user_id_is_not_found(admin: Api) -> None:
    codes = await admin.error_codes(
        "mutation($u: String!) { setTaskLimit(userId: $u, limit: 1) { userId } }",
        {"u": "a\u0000b"},
    )
    assert codes == ["NOT_FOUND"]


async def test_set_task_limit_without_limit_is_bad_user_input(ingester: Api, admin: Api) -> None:
    # given an end-user with a limit
    await _setup(ingester)
    await admin.data(SET_LIMIT, {"u": ANN, "limit": 5, "days": None})
    # when limit is left out (not null)
    result = await admin.raw('mutation { setTaskLimit(userId: "ann@example.com") { userId } }')
    # then it is refused as the client's mistake, and the limit stays
    assert [e["extensions"]["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]
    assert "null to remove it" in result["errors"][0]["message"]
    assert (await _user(admin))["taskLimit"] == 5
