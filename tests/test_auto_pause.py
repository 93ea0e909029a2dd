"""Auto-pause after N consecutive failed runs (SPEC §1, §8 "Consecutive failures")."""

from __future__ import annotations

from typing import Any

from tests import events as e
from tests.conftest import Api

STATE = """query($id: String!) { integration(integrationId: $id) { status pausedReason
  statusHistory { totalCount nodes { from to reason actor actorKind } } } }"""

SETTINGS = "{ viewer { accountId autoPauseAfterFailures retentionDays } }"


async def _setup(ingester: Api, *integrations: str) -> None:
    batch = [e.flow()] + [e.integration(i, user_id="ann@example.com") for i in integrations]
    result = (await ingester.data(e.INGEST, {"events": batch}))["ingestEvents"]
    assert result["rejected"] == []


def _runs(integration: str, start: int, count: int, status: str = "FAILED") -> list[Any]:
    batch: list[Any] = []
    for n in range(start, start + count):
        run_id = f"{integration}-run-{n}"
        batch += [
            e.run_started(run_id, integration, 10 + n * 10),
            e.run_finished(run_id, status, 15 + n * 10),
        ]
    return batch


async def _ingest(ingester: Api, batch: list[Any]) -> dict[str, Any]:
    result: dict[str, Any] = (await ingester.data(e.INGEST, {"events": batch}))["ingestEvents"]
    return result


async def _state(api: Api, integration: str = "int-1") -> dict[str, Any]:
    data: dict[str, Any] = (await api.data(STATE, {"id": integration}))["integration"]
    return data


async def _set_threshold(admin: Api, n: int) -> None:
    data = await admin.data(
        "mutation($n: Int) { setAccountSettings(autoPauseAfterFailures: $n) "
        "{ autoPauseAfterFailures } }",
        {"n": n},
    )
    assert data["setAccountSettings"]["autoPauseAfterFailures"] == n


async def test_pauses_at_exactly_n(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 4)
    await _setup(ingester, "int-1")
    # One batch per failure: the counter is kept across batches.
    for n in range(3):
        result = await _ingest(ingester, _runs("int-1", n, 1))
        assert result["rejected"] == []
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("ENABLED", None)
    await _ingest(ingester, _runs("int-1", 3, 1))
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("PAUSED", "TOO_MANY_ERRORS")
    latest = state["statusHistory"]["nodes"][0]
    assert latest["actor"] == "auto-pause"
    assert (latest["from"], latest["to"], latest["reason"]) == (
        "ENABLED",
        "PAUSED",
        "TOO_MANY_ERRORS",
    )
    # A pause is recorded once.
    assert state["statusHistory"]["totalCount"] == 2


async def test_pauses_at_n_within_one_batch_and_later_runs_are_refused(
    ingester: Api, admin: Api
) -> None:
    await _set_threshold(admin, 3)
    await _setup(ingester, "int-1")
    result = await _ingest(ingester, _runs("int-1", 0, 3))
    assert result["accepted"] == 6
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("PAUSED", "TOO_MANY_ERRORS")
    # The pause happened at the third runFinished (t=45); a run starting later is refused.
    result = await _ingest(ingester, [e.run_started("late", "int-1", 100)])
    assert [r["code"] for r in result["rejected"]] == ["INTEGRATION_NOT_RECEIVING"]


async def test_ok_run_resets_the_streak(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 3)
    await _setup(ingester, "int-1")
    batch = _runs("int-1", 0, 2) + _runs("int-1", 2, 1, "OK") + _runs("int-1", 3, 2)
    await _ingest(ingester, batch)
    assert (await _state(admin))["status"] == "ENABLED"
    await _ingest(ingester, _runs("int-1", 5, 1))
    assert (await _state(admin))["status"] == "PAUSED"


async def test_enabling_resets_the_streak(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 2)
    await _setup(ingester, "int-1")
    await _ingest(ingester, _runs("int-1", 0, 2))
    assert (await _state(admin))["status"] == "PAUSED"
    data = await admin.data('mutation { enableIntegration(integrationId: "int-1") { status } }')
    assert data["enableIntegration"]["status"] == "ENABLED"
    # Runs start after the enable (the admin acts "now", after the test's event times).
    base = int((e.datetime.now(e.UTC) - e.T0).total_seconds()) + 60
    batch = [
        e.run_started("after-1", "int-1", base),
        e.run_finished("after-1", "FAILED", base + 5),
    ]
    result = await _ingest(ingester, batch)
    assert result["rejected"] == []
    assert (await _state(admin))["status"] == "ENABLED"
    await _ingest(
        ingester,
        [
            e.run_started("after-2", "int-1", base + 10),
            e.run_finished("after-2", "FAILED", base + 15),
        ],
    )
    assert (await _state(admin))["status"] == "PAUSED"


async def test_disable_then_enable_resets_a_partial_streak(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 3)
    await _setup(ingester, "int-1")
    await _ingest(ingester, _runs("int-1", 0, 2))
    await admin.data('mutation { disableIntegration(integrationId: "int-1") { status } }')
    await admin.data('mutation { enableIntegration(integrationId: "int-1") { status } }')
    base = int((e.datetime.now(e.UTC) - e.T0).total_seconds()) + 60
    batch = []
    for n in range(2):
        batch += [
            e.run_started(f"x-{n}", "int-1", base + n * 10),
            e.run_finished(f"x-{n}", "FAILED", base + n * 10 + 5),
        ]
    assert (await _ingest(ingester, batch))["rejected"] == []
    assert (await _state(admin))["status"] == "ENABLED"


async def test_threshold_zero_is_off(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 0)
    await _setup(ingester, "int-1")
    await _ingest(ingester, _runs("int-1", 0, 25))
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("ENABLED", None)


async def test_default_is_ten_on_a_new_account(ingester: Api, admin: Api, viewer: Api) -> None:
    data = await viewer.data(SETTINGS)
    assert data["viewer"]["autoPauseAfterFailures"] == 10
    await _setup(ingester, "int-1")
    await _ingest(ingester, _runs("int-1", 0, 9))
    assert (await _state(admin))["status"] == "ENABLED"
    await _ingest(ingester, _runs("int-1", 9, 1))
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("PAUSED", "TOO_MANY_ERRORS")


async def test_failures_while_not_enabled_do_not_count(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 2)
    await _setup(ingester, "int-1")
    # Two runs start while ENABLED, the integration is disabled, then both fail.
    await _ingest(ingester, [e.run_started("r-1", "int-1", 10), e.run_started("r-2", "int-1", 20)])
    await admin.data('mutation { disableIntegration(integrationId: "int-1") { status } }')
    await _ingest(
        ingester, [e.run_finished("r-1", "FAILED", 30), e.run_finished("r-2", "FAILED", 40)]
    )
    state = await _state(admin)
    assert state["status"] == "DISABLED"
    await admin.data('mutation { enableIntegration(integrationId: "int-1") { status } }')
    base = int((e.datetime.now(e.UTC) - e.T0).total_seconds()) + 60
    await _ingest(
        ingester, [e.run_started("r-3", "int-1", base), e.run_finished("r-3", "FAILED", base + 5)]
    )
    assert (await _state(admin))["status"] == "ENABLED"


async def test_failures_while_task_limit_paused_do_not_count(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 2)
    await _setup(ingester, "int-1")
    await _ingest(ingester, [e.run_started("r-1", "int-1", 10), e.run_started("r-2", "int-1", 20)])
    await admin.data('mutation { setTaskLimit(userId: "ann@example.com", limit: 0) { status } }')
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("PAUSED", "BILLING")
    await _ingest(
        ingester, [e.run_finished("r-1", "FAILED", 30), e.run_finished("r-2", "FAILED", 40)]
    )
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("PAUSED", "BILLING")


async def test_out_of_order_run_finished_counts_once(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 3)
    await _setup(ingester, "int-1")
    # runFinished before runStarted, across batches, plus a repeated runFinished.
    await _ingest(ingester, [e.run_finished("r-1", "FAILED", 15)])
    await _ingest(ingester, [e.run_started("r-1", "int-1", 10)])
    await _ingest(ingester, [e.run_finished("r-1", "FAILED", 15)])
    # In one batch: finish first, start after, finish again.
    await _ingest(
        ingester,
        [
            e.run_finished("r-2", "FAILED", 25),
            e.run_started("r-2", "int-1", 20),
            e.run_finished("r-2", "FAILED", 25),
        ],
    )
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("ENABLED", None)
    data = await admin.data(
        '{ integration(integrationId: "int-1") { lastRunStatus runs { totalCount } } }'
    )
    assert data["integration"]["runs"]["totalCount"] == 2
    await _ingest(ingester, [e.run_finished("r-3", "FAILED", 35)])
    await _ingest(ingester, [e.run_started("r-3", "int-1", 30)])
    state = await _state(admin)
    assert (state["status"], state["pausedReason"]) == ("PAUSED", "TOO_MANY_ERRORS")


async def test_streaks_are_per_integration(ingester: Api, admin: Api) -> None:
    await _set_threshold(admin, 2)
    await _setup(ingester, "int-1", "int-2")
    batch = _runs("int-1", 0, 1) + _runs("int-2", 1, 1) + _runs("int-1", 2, 1, "OK")
    await _ingest(ingester, batch)
    assert (await _state(admin, "int-1"))["status"] == "ENABLED"
    assert (await _state(admin, "int-2"))["status"] == "ENABLED"
    await _ingest(ingester, _runs("int-2", 3, 1))
    assert (await _state(admin, "int-1"))["status"] == "ENABLED"
    assert (await _state(admin, "int-2"))["status"] == "PAUSED"


async def test_account_settings_on_viewer(admin: Api, viewer: Api) -> None:
    before = (await viewer.data(SETTINGS))["viewer"]
    data = await admin.data(
        "mutation { setAccountSettings(autoPauseAfterFailures: 5, retentionDays: 7) "
        "{ accountId autoPauseAfterFailures retentionDays } }"
    )
    assert data["setAccountSettings"] == {
        "accountId": before["accountId"],
        "autoPauseAfterFailures": 5,
        "retentionDays": 7,
    }
    assert (await viewer.data(SETTINGS))["viewer"] == data["setAccountSettings"]
    # Omitted arguments stay unchanged.
    data = await admin.data(
        "mutation { setAccountSettings(retentionDays: 0) { autoPauseAfterFailures retentionDays } }"
    )
    assert data["setAccountSettings"] == {"autoPauseAfterFailures": 5, "retentionDays": 0}
    data = await admin.data(
        "mutation { setAccountSettings(autoPauseAfterFailures: 0) "
        "{ autoPauseAfterFailures retentionDays } }"
    )
    assert data["setAccountSettings"] == {"autoPauseAfterFailures": 0, "retentionDays": 0}
    data = await admin.data(
        "mutation { setAccountSettings { autoPauseAfterFailures retentionDays } }"
    )
    assert data["setAccountSettings"] == {"autoPauseAfterFailures": 0, "retentionDays": 0}
    assert (await viewer.data(SETTINGS))["viewer"]["autoPauseAfterFailures"] == 0


async def test_invalid_settings_are_refused(admin: Api, viewer: Api) -> None:
    before = (await viewer.data(SETTINGS))["viewer"]
    for args in (
        "autoPauseAfterFailures: -1",
        "retentionDays: -1",
        "autoPauseAfterFailures: 3, retentionDays: -1",
    ):
        codes = await admin.error_codes(
            f"mutation {{ setAccountSettings({args}) {{ autoPauseAfterFailures }} }}"
        )
        assert codes == ["BAD_USER_INPUT"], args
    # Nothing of a refused call is applied.
    assert (await viewer.data(SETTINGS))["viewer"] == before


async def test_settings_need_admin(viewer: Api, ingester: Api) -> None:
    for api in (viewer, ingester):
        codes = await api.error_codes(
            "mutation { setAccountSettings(autoPauseAfterFailures: 3) { accountId } }"
        )
        assert codes == ["FORBIDDEN"]
