"""Events that contradict what is stored, or themselves, are rejected with a code and a reason;
repeats that agree are harmless; nothing valid in the batch is lost."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.config import Settings
from gateway.db import tables as t
from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.test_ingest_support import RECENT, send, state

B = RECENT
SETUP = [e.flow(t=B), e.integration("int-1", t=B + 1)]
SPEC_CODES = {"NOT_FOUND", "BAD_USER_INPUT", "CONFLICT", "INTEGRATION_NOT_RECEIVING"}


def _codes(result: dict[str, Any]) -> list[tuple[int, str]]:
    return [(r["index"], r["code"]) for r in result["rejected"]]


def _check_sum(result: dict[str, Any], size: int) -> None:
    assert result["accepted"] + result["duplicates"] + len(result["rejected"]) == size
    assert {r["code"] for r in result["rejected"]} <= SPEC_CODES


async def _parts(
    ingester: Api, events: list[dict[str, Any]], separate: bool
) -> list[dict[str, Any]]:
    results = []
    for part in [[ev] for ev in events] if separate else [events]:
        result = await send(ingester, part)
        _check_sum(result, len(part))
        results.append(result)
    return results


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _moment(seconds: float) -> str:
    return _iso(datetime.now(UTC) + timedelta(seconds=seconds))


# runFinished ------------------------------------------------------------------------------


async def test_run_finished_before_the_run_started_is_refused(ingester: Api, viewer: Api) -> None:
    await send(ingester, [*SETUP, e.run_started("run-1", "int-1", B + 10)])
    step = e.step_finished("s1", "run-1", 1, B + 11, B + 12)
    result = await send(ingester, [e.run_finished("run-1", "OK", B + 9), step])
    assert _codes(result) == [(0, "BAD_USER_INPUT")]
    assert result["accepted"] == 1
    message = result["rejected"][0]["message"]
    assert e.at(B + 9) in message
    assert e.at(B + 10) in message
    run = (await state(viewer))["run"]
    assert (run["status"], run["endTime"], run["duration"]) == ("RUNNING", None, None)
    # Ending at the start is a run of 0 ms, not an error.
    assert _codes(await send(ingester, [e.run_finished("run-1", "OK", B + 10)])) == []
    run = (await state(viewer))["run"]
    assert (run["status"], run["duration"]) == ("OK", 0)


async def test_run_finished_kept_for_a_later_run_started_in_the_same_batch_is_checked(
    ingester: Api, viewer: Api, services: Services, account_id: str
) -> None:
    # Given a runFinished that ends before the startTime of its runStarted, later in the batch
    early = e.run_finished("run-1", "FAILED", B + 5)
    again = e.run_finished("run-1", "FAILED", B + 5)  # the same, under another eventId
    batch = [*SETUP, early, again, e.run_started("run-1", "int-1", B + 10)]
    result = await send(ingester, batch)
    # Then both are rejected at their own index, the run is started and stays RUNNING
    assert _codes(result) == [(2, "BAD_USER_INPUT"), (3, "BAD_USER_INPUT")]
    assert result["accepted"] == 3
    assert "before the run's startTime" in result["rejected"][0]["message"]
    s = await state(viewer)
    assert (s["run"]["status"], s["run"]["endTime"]) == ("RUNNING", None)
    assert s["integration"]["lastRunStatus"] == "RUNNING"
    assert await _kept_finishes(services, account_id) == []
    # A rejected event leaves no receipt: sent again, corrected, it is applied.
    fixed = {"runFinished": {**early["runFinished"], "endTime": e.at(B + 15)}}
    assert (await send(ingester, [fixed]))["accepted"] == 1
    assert (await state(viewer))["run"]["status"] == "FAILED"


async def test_run_finished_kept_from_an_earlier_batch_is_dropped_when_invalid(
    ingester: Api,
    viewer: Api,
    services: Services,
    account_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await send(ingester, SETUP)
    # The first batch cannot know the start yet: accepted, kept.
    assert (await send(ingester, [e.run_finished("run-1", "OK", B + 5)]))["accepted"] == 1
    caplog.set_level(logging.WARNING, logger="gateway.ingest.apply")
    result = await send(ingester, [e.run_started("run-1", "int-1", B + 10)])
    assert result == {"accepted": 1, "duplicates": 0, "rejected": []}
    warnings = [r for r in caplog.records if r.name == "gateway.ingest.apply"]
    assert len(warnings) == 1
    assert "run-1" in warnings[0].getMessage()
    assert not warnings[0].exc_info
    s = await state(viewer)
    assert (s["run"]["status"], s["run"]["duration"]) == ("RUNNING", None)
    assert await _kept_finishes(services, account_id) == []
    assert (await send(ingester, [e.run_finished("run-1", "OK", B + 14)]))["accepted"] == 1
    assert (await state(viewer))["run"]["duration"] == 4000


async def _kept_finishes(services: Services, account_id: str) -> list[str]:
    f = t.early_run_finishes
    async with services.db.read() as conn:
        rows = await conn.execute(select(f.c.run_id).where(f.c.account_id == account_id))
        return [r[0] for r in rows]


@pytest.mark.parametrize("started", [True, False], ids=["started", "not-started"])
@pytest.mark.parametrize("separate", [False, True], ids=["one-batch", "batches"])
async def test_a_run_finishes_once(
    ingester: Api, viewer: Api, started: bool, separate: bool
) -> None:
    # Given a run finished FAILED (started already, or not yet)
    await send(ingester, [*SETUP, *([e.run_started("run-1", "int-1", B + 10)] if started else [])])
    events = [
        e.run_finished("run-1", "FAILED", B + 14),
        e.run_finished("run-1", "FAILED", B + 14),  # the same again, another eventId
        e.run_finished("run-1", "OK", B + 14),
        e.run_finished("run-1", "FAILED", B + 20),
    ]
    results = await _parts(ingester, events, separate)
    # Then the same finish is accepted and changes nothing; another status or end is CONFLICT
    rejected = [r for result in results for r in result["rejected"]]
    assert [r["code"] for r in rejected] == ["CONFLICT", "CONFLICT"]
    assert sum(result["accepted"] for result in results) == 2
    assert "FAILED" in rejected[0]["message"]
    assert "OK" in rejected[0]["message"]
    assert e.at(B + 14) in rejected[1]["message"]
    assert e.at(B + 20) in rejected[1]["message"]
    if not started:
        await send(ingester, [e.run_started("run-1", "int-1", B + 10)])
    s = await state(viewer)
    assert (s["run"]["status"], s["run"]["endTime"]) == ("FAILED", e.at(B + 14))
    assert s["integration"]["lastRunStatus"] == "FAILED"
    assert [(b["runs"], b["failedRuns"]) for b in s["flow"]["stats"]["timeline"]] == [(1, 1)]


async def test_a_repeated_run_finished_does_not_count_a_failure_twice(
    ingester: Api, admin: Api, viewer: Api
) -> None:
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 2) { accountId } }")
    await send(ingester, [*SETUP, e.run_started("run-1", "int-1", B + 10)])
    for _ in range(3):
        assert (await send(ingester, [e.run_finished("run-1", "FAILED", B + 14)]))["accepted"]
    assert (await state(viewer))["integration"]["status"] == "ENABLED"


# runStarted -------------------------------------------------------------------------------


async def test_run_started_again_with_other_values_is_a_conflict(
    ingester: Api, viewer: Api
) -> None:
    await send(ingester, [*SETUP, e.integration("int-2", t=B + 1)])
    batch = [
        e.run_started("run-1", "int-1", B + 10),
        e.run_started("run-1", "int-1", B + 10),  # the same: accepted
        e.run_started("run-1", "int-1", B + 11),
        e.run_started("run-1", "int-2", B + 10),
        e.run_started("run-1", "int-1", B + 10, trigger_type="POLL"),
    ]
    result = await send(ingester, batch)
    assert _codes(result) == [(2, "CONFLICT"), (3, "CONFLICT"), (4, "CONFLICT")]
    messages = [r["message"] for r in result["rejected"]]
    assert "startTime" in messages[0]
    assert e.at(B + 11) in messages[0]
    assert "integrationId" in messages[1]
    assert "'POLL'" in messages[2]
    assert (await state(viewer))["run"]["startTime"] == e.at(B + 10)


# steps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("separate", [False, True], ids=["one-batch", "batches"])
async def test_step_times_are_checked_against_the_stored_half(
    ingester: Api, viewer: Api, separate: bool
) -> None:
    events = [
        e.run_started("run-1", "int-1", B + 10),
        e.step_started("s1", "run-1", 1, B + 12),
        # endTime before the stored startTime
        _without_start(e.step_finished("s1", "run-1", 1, B + 12, B + 11)),
        _without_start(e.step_finished("s2", "run-1", 2, B + 12, B + 13)),
        # startTime after the stored endTime
        e.step_started("s2", "run-1", 2, B + 14),
        e.step_started("s2", "run-1", 2, B + 12),
    ]
    await send(ingester, SETUP)
    results = await _parts(ingester, events, separate)
    rejected = [r for result in results for r in result["rejected"]]
    assert [r["code"] for r in rejected] == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert "before the step's startTime" in rejected[0]["message"]
    assert "after the step's endTime" in rejected[1]["message"]
    steps = (await state(viewer))["run"]["steps"]["nodes"]
    assert [(s["stepId"], s["status"], s["duration"]) for s in steps] == [
        ("s1", "RUNNING", None),
        ("s2", "OK", 1000),
    ]


def _without_start(item: dict[str, Any]) -> dict[str, Any]:
    del item["stepFinished"]["startTime"]
    return item


async def test_position_zero_is_accepted_and_negative_refused(ingester: Api, viewer: Api) -> None:
    batch = [
        *SETUP,
        e.run_started("run-1", "int-1", B + 10),
        e.step_started("s0", "run-1", 0, B + 10),
        e.step_finished("s0", "run-1", 0, B + 10, B + 11, code=201),
        e.step_started("s1", "run-1", 1, B + 11),
        e.step_started("s-neg", "run-1", -1, B + 10),
        e.step_finished("s-neg2", "run-1", -2, B + 10, B + 11),
    ]
    result = await send(ingester, batch)
    assert _codes(result) == [(6, "BAD_USER_INPUT"), (7, "BAD_USER_INPUT")]
    assert "-1" in result["rejected"][0]["message"]
    run = (await state(viewer))["run"]
    assert [(s["stepId"], s["position"]) for s in run["steps"]["nodes"]] == [("s0", 0), ("s1", 1)]
    assert run["networkCode"] == 201


# times ------------------------------------------------------------------------------------


async def test_times_far_in_the_future_are_refused(ingester: Api, viewer: Api) -> None:
    await send(ingester, [*SETUP, e.run_started("run-1", "int-1", B + 10)])
    year_9999 = "9999-12-31T23:59:59.999Z"
    soon, later = _moment(30 * 60), _moment(2 * 3600)
    occurred = e.flow("flow-9")
    occurred["flowUpserted"]["occurredAt"] = year_9999
    start = e.run_started("run-2", "int-1", B + 10)
    start["runStarted"]["startTime"] = later
    end = e.run_finished("run-1", "OK", B + 14)
    end["runFinished"]["endTime"] = year_9999
    step = e.step_finished("s1", "run-1", 1, B + 11, B + 12)
    step["stepFinished"]["endTime"] = later
    fine = e.step_started("s2", "run-1", 2, B + 12)
    fine["stepStarted"]["occurredAt"] = soon  # within the allowed hour of skew
    result = await send(ingester, [occurred, start, end, step, fine])
    assert _codes(result) == [(i, "BAD_USER_INPUT") for i in range(4)]
    assert result["accepted"] == 1
    labels = ["occurredAt", "startTime", "endTime", "endTime"]
    for label, r in zip(labels, result["rejected"], strict=True):
        assert label in r["message"]
        assert "future" in r["message"]
    s = await state(viewer)
    assert (s["run"]["status"], [n["stepId"] for n in s["run"]["steps"]["nodes"]]) == (
        "RUNNING",
        ["s2"],
    )


async def test_the_future_skew_is_a_setting(
    ingester: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_INGEST_MAX_FUTURE_SKEW_SECONDS", "60")
    assert Settings().ingest_max_future_skew_seconds == 60
    monkeypatch.setattr(services.settings, "ingest_max_future_skew_seconds", 60.0)
    flows = [e.flow("flow-a"), e.flow("flow-b")]
    flows[0]["flowUpserted"]["occurredAt"] = _moment(30)
    flows[1]["flowUpserted"]["occurredAt"] = _moment(5 * 60)
    assert _codes(await send(ingester, flows)) == [(1, "BAD_USER_INPUT")]


# integrationCreated -----------------------------------------------------------------------

INTEGRATION = """{ integration(integrationId: "int-1") {
  flow { flowId } userId userAuth createdAt status } }"""


async def test_integration_created_again(ingester: Api, viewer: Api) -> None:
    await send(ingester, [*SETUP, e.flow("flow-2", t=B)])
    before = (await viewer.data(INTEGRATION))["integration"]
    batch = [
        e.integration("int-1", t=B + 1),  # the same: accepted, nothing changes
        e.integration("int-1", t=B + 1, user_id="someone.else@example.com"),
        e.integration("int-1", flow_id="flow-2", t=B + 1),
        # The initial status is the creation's; integrationStatusChanged moves it.
        e.integration("int-1", t=B + 1, status="INITIALIZING"),
    ]
    result = await send(ingester, batch)
    _check_sum(result, len(batch))
    assert _codes(result) == [(1, "CONFLICT"), (2, "CONFLICT")]
    assert "userId" in result["rejected"][0]["message"]
    assert "someone.else@example.com" in result["rejected"][0]["message"]
    assert "flowId" in result["rejected"][1]["message"]
    assert (await viewer.data(INTEGRATION))["integration"] == before


async def test_integration_created_again_fills_a_missing_user_auth_only(
    ingester: Api, viewer: Api
) -> None:
    await send(ingester, SETUP)
    batch = [
        e.integration("int-1", t=B + 1, userAuth="ann@example.com"),
        e.integration("int-1", t=B + 1),  # none given: keeps it
        e.integration("int-1", t=B + 1, userAuth="bob@example.com"),
    ]
    result = await send(ingester, batch)
    assert _codes(result) == [(2, "CONFLICT")]
    assert "userAuth" in result["rejected"][0]["message"]
    assert (await viewer.data(INTEGRATION))["integration"]["userAuth"] == "ann@example.com"
    found = await viewer.data(
        '{ flow(flowId: "flow-1") { integrations(search: "ann@example.com") { nodes '
        "{ integrationId } } } }"
    )
    assert found["flow"]["integrations"]["nodes"] == [{"integrationId": "int-1"}]


# duplicates -------------------------------------------------------------------------------


async def test_a_duplicate_event_id_stays_a_duplicate(ingester: Api, viewer: Api) -> None:
    # Given events applied under their eventIds
    finished = e.run_finished("run-1", "FAILED", B + 14)
    step = e.step_finished("s1", "run-1", 1, B + 11, B + 12)
    await send(ingester, [*SETUP, e.run_started("run-1", "int-1", B + 10), step, finished])
    # When the same eventIds come again, with what would now be a conflict or invalid
    other_status = {"runFinished": {**finished["runFinished"], "status": "OK"}}
    invalid = {"stepFinished": {**step["stepFinished"], "position": -1}}
    future = {"stepFinished": {**step["stepFinished"], "endTime": "9999-01-01T00:00:00.000Z"}}
    new_step = e.step_finished("s2", "run-1", 2, B + 12, B + 13)
    # (a new event, and a copy of it under its eventId that is invalid: a duplicate too)
    new_copy = {"stepFinished": {**new_step["stepFinished"], "position": -5}}
    batch = [other_status, invalid, future, new_step, new_copy]
    result = await send(ingester, batch)
    # Then they are duplicates, and nothing changes
    assert result == {"accepted": 1, "duplicates": 4, "rejected": []}
    s = await state(viewer)
    assert s["run"]["status"] == "FAILED"
    assert [(n["stepId"], n["position"]) for n in s["run"]["steps"]["nodes"]] == [
        ("s1", 1),
        ("s2", 2),
    ]
