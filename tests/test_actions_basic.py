"""Integration actions end to end: transitions, history, auto-pause, task limits."""

from __future__ import annotations

from tests import events as e
from tests.conftest import Api

HISTORY = """query($id: String!) { integration(integrationId: $id) { status pausedReason
  statusHistory { totalCount nodes { from to reason actor actorKind actorRole } } } }"""


async def _setup(ingester: Api, *integrations: str, user: str = "ann@example.com") -> None:
    batch = [e.flow()] + [e.integration(i, user_id=user) for i in integrations]
    await ingester.data(e.INGEST, {"events": batch})


async def test_disable_enable_delete_with_history(ingester: Api, admin: Api) -> None:
    await _setup(ingester, "int-1")
    for name, expected in [
        ("disableIntegration", "DISABLED"),
        ("disableIntegration", "DISABLED"),
        ("enableIntegration", "ENABLED"),
        ("deleteIntegration", "DELETED"),
    ]:
        data = await admin.data(f'mutation {{ {name}(integrationId: "int-1") {{ status }} }}')
        assert data[name]["status"] == expected
    assert await admin.error_codes(
        'mutation { enableIntegration(integrationId: "int-1") { status } }'
    ) == ["CONFLICT"]
    history = (await admin.data(HISTORY, {"id": "int-1"}))["integration"]["statusHistory"]
    assert history["totalCount"] == 4
    assert [(h["from"], h["to"], h["actorKind"]) for h in history["nodes"]] == [
        ("ENABLED", "DELETED", "KEY"),
        ("DISABLED", "ENABLED", "KEY"),
        ("ENABLED", "DISABLED", "KEY"),
        (None, "ENABLED", "ENGINE"),
    ]
    assert history["nodes"][0]["actor"] == "admin"
    assert history["nodes"][0]["actorRole"] == "ADMIN"


async def test_bulk_disable_is_all_or_nothing(ingester: Api, admin: Api) -> None:
    await _setup(ingester, "int-1", "int-2")
    codes = await admin.error_codes(
        'mutation { disableIntegrations(integrationIds: ["int-1", "nope"]) { status } }'
    )
    assert codes == ["NOT_FOUND"]
    data = await admin.data('{ integration(integrationId: "int-1") { status } }')
    assert data["integration"]["status"] == "ENABLED"


async def test_viewer_may_not_act(ingester: Api, viewer: Api) -> None:
    await _setup(ingester, "int-1")
    assert await viewer.error_codes(
        'mutation { disableIntegration(integrationId: "int-1") { status } }'
    ) == ["FORBIDDEN"]


async def test_auto_pause_after_n_failures(ingester: Api, admin: Api) -> None:
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 3) { accountId } }")
    await _setup(ingester, "int-1")
    batch = []
    for r in range(3):
        batch += [
            e.run_started(f"run-{r}", "int-1", 10 + r * 10),
            e.run_finished(f"run-{r}", "FAILED", 15 + r * 10),
        ]
    await ingester.data(e.INGEST, {"events": batch[:4]})
    data = await admin.data(HISTORY, {"id": "int-1"})
    assert data["integration"]["status"] == "ENABLED"
    await ingester.data(e.INGEST, {"events": batch[4:]})
    data = (await admin.data(HISTORY, {"id": "int-1"}))["integration"]
    assert (data["status"], data["pausedReason"]) == ("PAUSED", "TOO_MANY_ERRORS")
    assert data["statusHistory"]["nodes"][0]["actor"] == "auto-pause"


async def test_task_limit_pauses_then_removing_it_resumes(ingester: Api, admin: Api) -> None:
    await _setup(ingester, "int-1", "int-2")
    data = await admin.data(
        'mutation { setTaskLimit(userId: "ann@example.com", limit: 2) '
        "{ taskLimit tasksRemaining limitPeriodDays status } }"
    )
    assert data["setTaskLimit"] == {
        "taskLimit": 2,
        "tasksRemaining": 2,
        "limitPeriodDays": 30,
        "status": "ACTIVE",
    }
    batch = [
        e.run_started("run-1", "int-1", 10),
        e.step_finished("s1", "run-1", 1, 11, 12),
        e.step_finished("s2", "run-1", 2, 12, 13),
    ]
    await ingester.data(e.INGEST, {"events": batch})
    data = await admin.data(
        '{ endUser(userId: "ann@example.com") { tasksConsumed '
        "tasksConsumedInPeriod tasksRemaining status "
        "integrations { nodes { status pausedReason } } } }"
    )
    user = data["endUser"]
    assert (user["tasksConsumed"], user["tasksRemaining"], user["status"]) == (2, 0, "PAUSED")
    assert {(i["status"], i["pausedReason"]) for i in user["integrations"]["nodes"]} == {
        ("PAUSED", "BILLING")
    }
    data = await admin.data(
        'mutation { setTaskLimit(userId: "ann@example.com", limit: null) { status taskLimit } }'
    )
    assert data["setTaskLimit"] == {"status": "ACTIVE", "taskLimit": None}
