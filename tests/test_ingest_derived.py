"""Derived values kept on ingest: final statuses, task counters, last run, network code,
integration status changes."""

from __future__ import annotations

from typing import Any

import pytest

from tests import events as e
from tests.conftest import Api
from tests.test_ingest_support import RECENT, send, state, with_id

B = RECENT
SETUP = [e.flow(t=B), e.integration("int-1", t=B + 1)]


def _counters(s: dict[str, Any]) -> tuple[int, int, int, int]:
    timeline = s["flow"]["stats"]["timeline"]
    return (
        s["run"]["tasksConsumed"],
        s["integration"]["tasksConsumed"],
        s["flow"]["stats"]["tasksConsumed"],
        sum(b["tasks"] for b in timeline),
    )


@pytest.mark.parametrize("separate", [False, True], ids=["one-batch", "batches"])
async def test_late_run_started_keeps_the_run_finished(
    ingester: Api, viewer: Api, separate: bool
) -> None:
    events = [
        e.run_finished("run-1", "OK", B + 14),
        e.step_finished("s1", "run-1", 1, B + 11, B + 12),
        e.run_started("run-1", "int-1", B + 10),
        # A repeated (re-sent with another eventId) runStarted after the finish.
        e.run_started("run-1", "int-1", B + 10),
    ]
    await send(ingester, SETUP)
    for part in [[ev] for ev in events] if separate else [events]:
        result = await send(ingester, part)
        assert result["rejected"] == []
    s = await state(viewer)
    assert s["run"]["status"] == "OK"
    assert s["run"]["endTime"] == e.at(B + 14)
    assert s["run"]["duration"] == 4000
    assert s["integration"]["lastRunStatus"] == "OK"
    assert _counters(s) == (1, 1, 1, 1)
    assert [b["runs"] for b in s["flow"]["stats"]["timeline"]] == [1]


@pytest.mark.parametrize("separate", [False, True], ids=["one-batch", "batches"])
async def test_step_started_after_finish_keeps_the_step_final(
    ingester: Api, viewer: Api, separate: bool
) -> None:
    events = [
        e.run_started("run-1", "int-1", B + 10),
        e.step_finished("s1", "run-1", 1, B + 11, B + 12, status="FAILED", code=500),
        e.step_started("s1", "run-1", 1, B + 11),
        e.step_finished("s2", "run-1", 2, B + 12, B + 13, status="SKIPPED", code=None),
        e.step_started("s2", "run-1", 2, B + 12),
    ]
    await send(ingester, SETUP)
    for part in [[ev] for ev in events] if separate else [events]:
        assert (await send(ingester, part))["rejected"] == []
    steps = (await state(viewer))["run"]["steps"]["nodes"]
    assert [(s["stepId"], s["status"], s["duration"]) for s in steps] == [
        ("s1", "FAILED", 1000),
        ("s2", "SKIPPED", 1000),
    ]


@pytest.mark.parametrize("separate", [False, True], ids=["one-batch", "batches"])
async def test_repeated_step_finished_corrects_tasks(
    ingester: Api, viewer: Api, separate: bool
) -> None:
    await send(
        ingester,
        [
            *SETUP,
            e.run_started("run-1", "int-1", B + 10),
            e.step_finished("s0", "run-1", 1, B + 10, B + 11),
        ],
    )
    ok = e.step_finished("s1", "run-1", 2, B + 11, B + 12, status="OK")
    failed = e.step_finished("s1", "run-1", 2, B + 11, B + 12, status="FAILED")
    again_ok = e.step_finished("s1", "run-1", 2, B + 11, B + 12, status="OK")
    if separate:
        await send(ingester, [ok])
        assert _counters(await state(viewer)) == (2, 2, 2, 2)
        await send(ingester, [failed])
    else:
        await send(ingester, [ok, failed])
    s = await state(viewer)
    assert _counters(s) == (1, 1, 1, 1)
    assert s["run"]["steps"]["nodes"][1]["status"] == "FAILED"
    # The same status again changes nothing; back to OK adds the task again.
    await send(ingester, [with_id(failed, "failed-again")])
    assert _counters(await state(viewer)) == (1, 1, 1, 1)
    await send(ingester, [again_ok])
    assert _counters(await state(viewer)) == (2, 2, 2, 2)


async def test_step_finished_before_run_started_counts_once(ingester: Api, viewer: Api) -> None:
    await send(ingester, SETUP)
    await send(ingester, [e.step_finished("s1", "run-1", 1, B + 11, B + 12)])
    await send(
        ingester,
        [
            e.step_finished("s1", "run-1", 1, B + 11, B + 12, status="FAILED"),
            e.step_finished("s1", "run-1", 1, B + 11, B + 12, status="OK"),
        ],
    )
    await send(ingester, [e.run_started("run-1", "int-1", B + 10)])
    await send(ingester, [e.step_finished("s2", "run-1", 2, B + 12, B + 13)])
    assert _counters(await state(viewer)) == (2, 2, 2, 2)


LAST_RUN = """{ integration(integrationId: "int-1") { lastRunStart lastRunStatus }
  flow(flowId: "flow-1") { stats { failingCount } } }"""


async def test_last_run_follows_the_highest_start_time_and_run_id(
    ingester: Api, viewer: Api
) -> None:
    await send(ingester, SETUP)
    data = await viewer.data(LAST_RUN)
    assert data["integration"] == {"lastRunStart": None, "lastRunStatus": "HASNT_RUN"}
    # Newest first: r-c and r-b start at the same time, r-c wins on its runId.
    await send(
        ingester,
        [
            e.run_started("r-c", "int-1", B + 200),
            e.run_started("r-b", "int-1", B + 200),
            e.run_finished("r-b", "OK", B + 210),
            e.run_started("r-a", "int-1", B + 100),
            e.run_finished("r-a", "OK", B + 110),
        ],
    )
    data = await viewer.data(LAST_RUN)
    assert data["integration"] == {"lastRunStart": e.at(B + 200), "lastRunStatus": "RUNNING"}
    await send(
        ingester, [e.run_finished("r-c", "FAILED", B + 220), e.run_finished("r-a", "OK", B + 230)]
    )
    data = await viewer.data(LAST_RUN)
    assert data["integration"] == {"lastRunStart": e.at(B + 200), "lastRunStatus": "FAILED"}
    assert data["flow"]["stats"]["failingCount"] == 1
    # An older run finishing later changes nothing; a newer one takes over.
    await send(
        ingester, [e.run_started("r-0", "int-1", B + 50), e.run_finished("r-0", "OK", B + 300)]
    )
    assert (await viewer.data(LAST_RUN))["integration"]["lastRunStatus"] == "FAILED"
    await send(ingester, [e.run_finished("r-d", "OK", B + 320)])
    await send(ingester, [e.run_started("r-d", "int-1", B + 310)])
    data = await viewer.data(LAST_RUN)
    assert data["integration"] == {"lastRunStart": e.at(B + 310), "lastRunStatus": "OK"}
    assert data["flow"]["stats"]["failingCount"] == 0


async def test_network_code_is_the_highest_step_that_ran(
    ingester: Api, viewer: Api
) -> None:
    await send(ingester, SETUP)
    await send(
        ingester,
        [
            e.step_finished("s3", "run-1", 3, B + 13, B + 14, status="FAILED", code=500),
            e.step_finished("s4", "run-1", 4, B + 14, B + 15, status="SKIPPED", code=None),
            e.step_started("s5", "run-1", 5, B + 15),
        ],
    )
    await send(ingester, [e.run_started("run-1", "int-1", B + 10)])
    await send(
        ingester,
        [
            e.step_finished("s2", "run-1", 2, B + 12, B + 13, code=404),
            e.step_finished("s1", "run-1", 1, B + 11, B + 12, code=200),
        ],
    )
    data = await viewer.data('{ run(runId: "run-1") { networkCode networkCodeText } }')
    assert data["run"] == {"networkCode": 500, "networkCodeText": "500 Internal Server Error"}
    await send(ingester, [e.step_finished("s5", "run-1", 5, B + 15, B + 16, code=201)])
    data = await viewer.data('{ run(runId: "run-1") { networkCode } }')
    assert data["run"] == {"networkCode": 201}


async def test_tasks_sum_over_runs_integrations_and_flows(ingester: Api, viewer: Api) -> None:
    await send(
        ingester,
        [
            *SETUP,
            e.integration("int-2", t=B + 1),
            e.flow("flow-2", t=B),
            e.integration("int-3", flow_id="flow-2", t=B + 1),
        ],
    )
    batch = []
    plan = {"int-1": [3, 1], "int-2": [2], "int-3": [4]}  # OK steps per run
    for integration_id, runs in plan.items():
        for r, ok_steps in enumerate(runs):
            run_id = f"{integration_id}-r{r}"
            batch.append(e.run_started(run_id, integration_id, B + 10 + r))
            for p in range(1, ok_steps + 2):  # one FAILED step more
                status = "OK" if p <= ok_steps else "FAILED"
                batch.append(
                    e.step_finished(f"{run_id}-s{p}", run_id, p, B + 11, B + 12, status=status)
                )
    assert (await send(ingester, batch))["rejected"] == []
    data = await viewer.data("""{
      a: integration(integrationId: "int-1") { tasksConsumed }
      b: integration(integrationId: "int-2") { tasksConsumed }
      c: integration(integrationId: "int-3") { tasksConsumed }
      r: run(runId: "int-1-r0") { tasksConsumed }
      f1: flow(flowId: "flow-1") { stats { tasksConsumed } }
      f2: flow(flowId: "flow-2") { stats { tasksConsumed } }
    }""")
    assert data == {
        "a": {"tasksConsumed": 4},
        "b": {"tasksConsumed": 2},
        "c": {"tasksConsumed": 4},
        "r": {"tasksConsumed": 3},
        "f1": {"stats": {"tasksConsumed": 6}},
        "f2": {"stats": {"tasksConsumed": 4}},
    }


STATUS = """{ integration(integrationId: "int-1") { status pausedReason } }"""


def _status(t: float, status: str, reason: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"integrationId": "int-1", "status": status}
    if reason:
        fields["reason"] = reason
    return e.ev("integrationStatusChanged", t, **fields)


async def test_older_status_change_is_ignored(ingester: Api, viewer: Api) -> None:
    await send(ingester, SETUP)
    result = await send(
        ingester, [_status(B + 200, "PAUSED", "TOO_MANY_ERRORS"), _status(B + 150, "ENABLED")]
    )
    assert result["rejected"] == []
    assert (await viewer.data(STATUS))["integration"] == {
        "status": "PAUSED",
        "pausedReason": "TOO_MANY_ERRORS",
    }
    await send(ingester, [_status(B + 180, "ENABLED")])
    assert (await viewer.data(STATUS))["integration"]["status"] == "PAUSED"
    await send(ingester, [_status(B + 250, "ENABLED")])
    assert (await viewer.data(STATUS))["integration"] == {"status": "ENABLED", "pausedReason": None}


async def test_deleted_stays_deleted(ingester: Api, viewer: Api) -> None:
    await send(ingester, [*SETUP, _status(B + 300, "DELETED")])
    result = await send(
        ingester,
        [
            _status(B + 400, "ENABLED"),
            _status(B + 500, "DELETED"),
            _status(B + 600, "PAUSED", "BILLING"),
        ],
    )
    assert result["accepted"] == 1
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (0, "CONFLICT"),
        (2, "CONFLICT"),
    ]
    assert (await viewer.data(STATUS))["integration"] == {"status": "DELETED", "pausedReason": None}


async def test_status_change_needs_a_reason_only_when_pausing(ingester: Api) -> None:
    await send(ingester, SETUP)
    result = await send(
        ingester, [_status(B + 10, "PAUSED"), _status(B + 20, "DISABLED", "BILLING")]
    )
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (0, "BAD_USER_INPUT"),
        (1, "BAD_USER_INPUT"),
    ]


NETWORK = """{ run(runId: "run-1") { networkCode networkCodeText }
  ok: runs(filter: {networkCodeClass: [C2XX]}) { nodes { runId } }
  code200: runs(filter: {networkCode: [200]}) { nodes { runId } } }"""


@pytest.mark.parametrize("separate", [False, True], ids=["one-batch", "batches"])
async def test_network_code_is_null_when_the_last_step_got_no_response(
    ingester: Api, viewer: Api, separate: bool
) -> None:
    # Given a run whose last step timed out (no response) after a step that got a 200
    events = [
        e.run_started("run-1", "int-1", B + 10),
        e.step_finished("s1", "run-1", 1, B + 11, B + 12, code=200),
        e.step_finished("s2", "run-1", 2, B + 12, B + 13, status="FAILED", code=None),
        e.run_finished("run-1", "FAILED", B + 14),
    ]
    await send(ingester, SETUP)
    for part in [[ev] for ev in events] if separate else [events]:
        assert (await send(ingester, part))["rejected"] == []
    # Then the run has no code, and the code filters do not find it by the earlier step's
    data = await viewer.data(NETWORK)
    assert data == {
        "run": {"networkCode": None, "networkCodeText": None},
        "ok": {"nodes": []},
        "code200": {"nodes": []},
    }


async def test_network_code_follows_its_step_when_re_finished_without_one(
    ingester: Api, viewer: Api
) -> None:
    await send(
        ingester,
        [
            *SETUP,
            e.run_started("run-1", "int-1", B + 10),
            e.step_finished("s1", "run-1", 2, B + 11, B + 12, code=201),
            e.step_finished("s2", "run-1", 3, B + 12, B + 13, status="FAILED", code=503),
        ],
    )
    query = '{ run(runId: "run-1") { networkCode } }'
    assert (await viewer.data(query))["run"]["networkCode"] == 503
    # Re-finished without a code, in a later batch: null, not s1's 201.
    redo = [e.step_finished("s2", "run-1", 3, B + 12, B + 14, status="FAILED", code=None)]
    assert (await send(ingester, redo))["rejected"] == []
    assert (await viewer.data(query))["run"]["networkCode"] is None
    # Re-finished with a code again, it is back; a step re-finished at a lower position
    # hands the last place to the next one.
    redo = [e.step_finished("s2", "run-1", 3, B + 12, B + 14, status="FAILED", code=504)]
    await send(ingester, redo)
    assert (await viewer.data(query))["run"]["networkCode"] == 504
    await send(ingester, [e.step_finished("s2", "run-1", 1, B + 12, B + 14, code=302)])
    assert (await viewer.data(query))["run"]["networkCode"] == 201


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
async def test_network_code_of_steps_on_the_same_position_is_the_highest_step_id(
    ingester: Api, viewer: Api, order: tuple[int, ...]
) -> None:
    steps = [
        e.step_finished("s-a", "run-1", 2, B + 11, B + 12, code=404),
        e.step_finished("s-b", "run-1", 2, B + 11, B + 12, status="FAILED", code=None),
        e.step_finished("s-0", "run-1", 1, B + 11, B + 12, code=200),
    ]
    await send(ingester, [*SETUP, e.run_started("run-1", "int-1", B + 10)])
    for i in order:
        await send(ingester, [steps[i]])
    assert (await viewer.data('{ run(runId: "run-1") { networkCode } }'))["run"] == {
        "networkCode": None
    }
