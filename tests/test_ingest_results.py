"""What ``ingestEvents`` answers: duplicates, rejected events, refused batches, tenancy."""

from __future__ import annotations

import uuid
from typing import Any

from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.test_ingest_support import RECENT, client, event_id, send, state, with_id

B = RECENT

TASKS = """query($i: String!) {
  integration(integrationId: $i) { tasksConsumed lastRunStatus }
  run(runId: "run-1") { tasksConsumed status }
  flow(flowId: "flow-1") { stats { tasksConsumed timeline(hours: 24) { runs failedRuns tasks } } }
}"""


def _totals(data: dict[str, Any]) -> tuple[int, int, int, int, int]:
    buckets = data["flow"]["stats"]["timeline"]
    return (
        data["integration"]["tasksConsumed"],
        data["run"]["tasksConsumed"],
        data["flow"]["stats"]["tasksConsumed"],
        sum(b["runs"] for b in buckets),
        sum(b["tasks"] for b in buckets),
    )


def _check_sum(result: dict[str, Any], size: int) -> None:
    assert result["accepted"] + result["duplicates"] + len(result["rejected"]) == size


async def test_duplicates_in_one_batch_and_across_batches(ingester: Api, viewer: Api) -> None:
    step = with_id(e.step_finished("s1", "run-1", 1, B + 11, B + 12), "dup-step")
    started = e.run_started("run-1", "int-1", B + 10)
    batch = [
        e.flow(t=B),
        e.integration("int-1", t=B + 1),
        started,
        step,
        step,
        e.run_finished("run-1", "OK", B + 14),
    ]
    result = await send(ingester, batch)
    assert result == {"accepted": 5, "duplicates": 1, "rejected": []}
    assert _totals(await viewer.data(TASKS, {"i": "int-1"})) == (1, 1, 1, 1, 1)

    # The whole batch again: every event is a duplicate, nothing moves.
    result = await send(ingester, batch)
    assert result == {"accepted": 0, "duplicates": 6, "rejected": []}
    # A duplicate beside new events: only the new ones are applied.
    step2 = e.step_finished("s2", "run-1", 2, B + 12, B + 13)
    result = await send(ingester, [step, started, step2, step2])
    assert result == {"accepted": 1, "duplicates": 3, "rejected": []}
    assert _totals(await viewer.data(TASKS, {"i": "int-1"})) == (2, 2, 2, 1, 2)


async def test_same_event_id_with_other_content_is_a_duplicate(ingester: Api, viewer: Api) -> None:
    await send(
        ingester,
        [e.flow(t=B), e.integration("int-1", t=B + 1), e.run_started("run-1", "int-1", B + 10)],
    )
    ok = with_id(e.step_finished("s1", "run-1", 1, B + 11, B + 12, status="OK"), "x")
    failed = with_id(e.step_finished("s1", "run-1", 1, B + 11, B + 12, status="FAILED"), "x")
    result = await send(ingester, [ok, failed])
    assert result == {"accepted": 1, "duplicates": 1, "rejected": []}
    result = await send(ingester, [failed])
    assert result == {"accepted": 0, "duplicates": 1, "rejected": []}
    data = await viewer.data(TASKS, {"i": "int-1"})
    assert _totals(data) == (1, 1, 1, 1, 1)


async def test_bad_events_are_rejected_and_the_rest_applied(ingester: Api, viewer: Api) -> None:
    setup = [e.flow(t=B), e.integration("int-1", t=B + 1)]
    for name in ("int-off", "int-paused", "int-deleted"):
        setup.append(e.integration(name, t=B + 1))
    assert (await send(ingester, setup))["accepted"] == 5
    changes = [
        e.ev("integrationStatusChanged", B + 100, integrationId="int-off", status="DISABLED"),
        e.ev(
            "integrationStatusChanged",
            B + 100,
            integrationId="int-paused",
            status="PAUSED",
            reason="TOO_MANY_ERRORS",
        ),
        e.ev("integrationStatusChanged", B + 100, integrationId="int-deleted", status="DELETED"),
    ]
    assert (await send(ingester, changes))["accepted"] == 3

    bad_id = e.run_started("run 2!", "int-1", B + 10)
    batch = [
        e.run_started("run-1", "int-1", B + 10),  # 0 ok
        e.run_started("run-x", "no-such-integration", B + 10),  # 1
        bad_id,  # 2
        e.step_finished("s0", "run-1", -1, B + 11, B + 12),  # 3
        e.step_finished("s99", "run-1", 1, B + 11, B + 12, code=99),  # 4
        e.step_finished("s1", "run-1", 1, B + 11, B + 12),  # 5 ok
        e.run_started("off-late", "int-off", B + 150),  # 6
        e.run_started("off-at", "int-off", B + 100),  # 7
        e.run_started("off-early", "int-off", B + 50),  # 8 ok
        e.run_started("paused-late", "int-paused", B + 101),  # 9
        e.run_started("paused-early", "int-paused", B + 99),  # 10 ok
        e.run_started("deleted-late", "int-deleted", B + 200),  # 11
        e.run_started("deleted-early", "int-deleted", B + 20),  # 12 ok
        e.run_finished("run-1", "OK", B + 14),  # 13 ok
    ]
    result = await send(ingester, batch)
    _check_sum(result, len(batch))
    assert result["accepted"] == 6
    assert result["duplicates"] == 0
    rejected = {r["index"]: r for r in result["rejected"]}
    assert {i: r["code"] for i, r in rejected.items()} == {
        1: "NOT_FOUND",
        2: "BAD_USER_INPUT",
        3: "BAD_USER_INPUT",
        4: "BAD_USER_INPUT",
        6: "INTEGRATION_NOT_RECEIVING",
        7: "INTEGRATION_NOT_RECEIVING",
        9: "INTEGRATION_NOT_RECEIVING",
        11: "INTEGRATION_NOT_RECEIVING",
    }
    assert [r["index"] for r in result["rejected"]] == sorted(rejected)
    for index, r in rejected.items():
        assert r["eventId"] == event_id(batch[index])
        assert r["message"]
    assert "no-such-integration" in rejected[1]["message"]

    data = await viewer.data("""{
      a: run(runId: "off-early") { status } b: run(runId: "paused-early") { status }
      c: run(runId: "deleted-early") { status } d: run(runId: "off-late") { status }
      e: run(runId: "run-x") { status } f: step(stepId: "s0") { status }
      g: step(stepId: "s99") { status }
    }""")
    assert data == {
        "a": {"status": "RUNNING"},
        "b": {"status": "RUNNING"},
        "c": {"status": "RUNNING"},
        "d": None,
        "e": None,
        "f": None,
        "g": None,
    }
    s = await state(viewer)
    assert s["run"]["status"] == "OK"
    assert s["run"]["tasksConsumed"] == 1
    assert [st["stepId"] for st in s["run"]["steps"]["nodes"]] == ["s1"]

    # A rejected event is not a receipt: sent again once it is valid, it is applied.
    fixed = with_id(e.run_started("run-x", "int-1", B + 10), event_id(batch[1]))
    assert (await send(ingester, [fixed]))["accepted"] == 1


async def test_integration_created_in_the_same_batch_as_its_disabling(ingester: Api) -> None:
    batch = [
        e.flow(t=B),
        e.integration("int-1", t=B + 1),
        e.ev("integrationStatusChanged", B + 100, integrationId="int-1", status="DISABLED"),
        e.run_started("late", "int-1", B + 100),
        e.run_started("early", "int-1", B + 99),
    ]
    result = await send(ingester, batch)
    assert result["accepted"] == 4
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (3, "INTEGRATION_NOT_RECEIVING")
    ]


async def test_invalid_graphql_input_refuses_the_whole_batch(ingester: Api, viewer: Api) -> None:
    good = [e.flow(t=B), e.integration("int-1", t=B + 1)]
    wrong_enum = e.run_started("run-1", "int-1", B + 10, trigger_type="CARRIER_PIGEON")
    no_offset = e.run_started("run-2", "int-1", B + 10)
    next(iter(no_offset.values()))["startTime"] = "2026-11-01T12:00:00"
    bad_date = e.run_started("run-3", "int-1", B + 10)
    next(iter(bad_date.values()))["startTime"] = "yesterday"
    two_members = {
        "flowUpserted": e.flow("flow-2")["flowUpserted"],
        "appUpserted": {"eventId": "a", "occurredAt": e.at(B), "appId": "x", "name": "X"},
    }
    for bad in (wrong_enum, no_offset, bad_date, two_members):
        result = await ingester.raw(e.INGEST, {"events": [*good, bad]})
        assert result.get("data") is None, result
        assert {err["extensions"]["code"] for err in result["errors"]} == {"BAD_USER_INPUT"}
    assert (await viewer.data('{ flow(flowId: "flow-1") { flowId } }'))["flow"] is None
    # The same events, valid, are not duplicates of the refused ones.
    assert (await send(ingester, good))["accepted"] == 2


async def test_more_than_1000_events_is_refused(ingester: Api, viewer: Api) -> None:
    batch = [e.flow(f"flow-{n}", t=B) for n in range(1001)]
    result = await ingester.raw(e.INGEST, {"events": batch})
    assert result.get("data") is None
    assert [err["extensions"]["code"] for err in result["errors"]] == ["BAD_USER_INPUT"]
    assert (await viewer.data('{ flow(flowId: "flow-0") { flowId } }'))["flow"] is None
    assert (await send(ingester, batch[:1000]))["accepted"] == 1000
    assert (await send(ingester, [])) == {"accepted": 0, "duplicates": 0, "rejected": []}


async def test_same_ids_in_two_accounts(app_and_services: tuple[Any, Services]) -> None:
    seen = {}
    accounts = [f"acct-a-{uuid.uuid4().hex[:8]}", f"acct-b-{uuid.uuid4().hex[:8]}"]
    for n, account_id in enumerate(accounts):
        status = ("OK", "FAILED")[n]
        batch = [
            with_id(e.flow("flow-1", name=f"Flow of {account_id}", t=B), "same-1"),
            with_id(e.integration("int-0001", user_id=f"user{n}@example.com", t=B + 1), "same-2"),
            e.ev(
                "runStarted",
                B + 10 + n,
                event_id="same-3",
                runId="run-1",
                integrationId="int-0001",
                triggerAppId="slack",
                triggerName="New message",
                triggerType="WEBHOOK",
                startTime=e.at(B + 10 + n),
            ),
            with_id(
                e.step_finished("s1", "run-1", 1, B + 11, B + 12, status=status, code=200 + n),
                "same-4",
            ),
            e.run_finished(
                "run-1",
                status,
                B + 14,
            ),
        ]
        async with client(app_and_services, account_id, "ingest") as ingester:
            result = await send(ingester, batch)
            assert result == {"accepted": 5, "duplicates": 0, "rejected": []}
    for n, account_id in enumerate(accounts):
        async with client(app_and_services, account_id, "viewer") as viewer:
            seen[n] = await viewer.data("""{
              flow(flowId: "flow-1") { name stats { integrationCount tasksConsumed } }
              integration(integrationId: "int-0001") { userId lastRunStatus tasksConsumed }
              run(runId: "run-1") { startTime status networkCode tasksConsumed
                steps { totalCount nodes { stepId status } } }
            }""")
    for n, account_id in enumerate(accounts):
        status, tasks = (("OK", 1), ("FAILED", 0))[n]
        assert seen[n] == {
            "flow": {
                "name": f"Flow of {account_id}",
                "stats": {"integrationCount": 1, "tasksConsumed": tasks},
            },
            "integration": {
                "userId": f"user{n}@example.com",
                "lastRunStatus": status,
                "tasksConsumed": tasks,
            },
            "run": {
                "startTime": e.at(B + 10 + n),
                "status": status,
                "networkCode": 200 + n,
                "tasksConsumed": tasks,
                "steps": {"totalCount": 1, "nodes": [{"stepId": "s1", "status": status}]},
            },
        }
