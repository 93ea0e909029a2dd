"""Integration actions: the full transition matrix, idempotence, roles, tenant isolation, bulk
all-or-nothing, consecutive failures, and what a status change means for new runs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tests import events as e
from tests.conftest import Api, api_client

STATE = """query($id: String!) { integration(integrationId: $id) { status pausedReason
  statusHistory(first: 100) { totalCount nodes { from to reason actor actorKind actorRole } } } }"""

MUTATIONS = {
    "disable": ("disableIntegration", "DISABLED"),
    "enable": ("enableIntegration", "ENABLED"),
    "delete": ("deleteIntegration", "DELETED"),
}

STARTS = [
    "INITIALIZING",
    "ENABLED",
    "DISABLED",
    "PAUSED:TOO_MANY_ERRORS",
    "PAUSED:BILLING",
    "FAILED_TO_INITIALIZE",
    "DELETED",
]

_C = "CONFLICT"
# start -> action -> expected status (or CONFLICT); SPEC §1.
MATRIX: dict[str, dict[str, str]] = {
    "INITIALIZING": {"disable": _C, "enable": _C, "delete": "DELETED"},
    "ENABLED": {"disable": "DISABLED", "enable": "ENABLED", "delete": "DELETED"},
    "DISABLED": {"disable": "DISABLED", "enable": "ENABLED", "delete": "DELETED"},
    "PAUSED:TOO_MANY_ERRORS": {"disable": "DISABLED", "enable": "ENABLED", "delete": "DELETED"},
    "PAUSED:BILLING": {"disable": "DISABLED", "enable": "ENABLED", "delete": "DELETED"},
    "FAILED_TO_INITIALIZE": {"disable": _C, "enable": _C, "delete": "DELETED"},
    "DELETED": {"disable": _C, "enable": _C, "delete": "DELETED"},
}


def _now_offset(seconds: float = 0) -> float:
    """Seconds after events.T0 that is ``seconds`` from now (for times after a mutation)."""
    return (datetime.now(UTC) - e.T0).total_seconds() + seconds


async def _state(api: Api, integration_id: str) -> dict[str, Any]:
    data = await api.data(STATE, {"id": integration_id})
    assert data["integration"] is not None, f"integration {integration_id} not found"
    result: dict[str, Any] = data["integration"]
    return result


async def _act(api: Api, action: str, integration_id: str) -> dict[str, Any]:
    name, _ = MUTATIONS[action]
    return await api.raw(
        f"mutation($id: String!) {{ {name}(integrationId: $id) "
        "{ integrationId status pausedReason } }",
        {"id": integration_id},
    )


async def _make(ingester: Api, admin: Api, integration_id: str, start: str) -> None:
    """Creates ``integration_id`` in status ``start`` (PAUSED:<reason> for paused)."""
    status, _, reason = start.partition(":")
    created = "INITIALIZING" if status in ("INITIALIZING", "FAILED_TO_INITIALIZE") else "ENABLED"
    batch = [e.flow(), e.integration(integration_id, status=created)]
    if status == "FAILED_TO_INITIALIZE":
        batch.append(
            e.ev("integrationStatusChanged", 5, integrationId=integration_id, status=status)
        )
    elif status == "PAUSED":
        batch.append(
            e.ev(
                "integrationStatusChanged",
                5,
                integrationId=integration_id,
                status=status,
                reason=reason,
            )
        )
    result = await ingester.data(e.INGEST, {"events": batch})
    assert result["ingestEvents"]["rejected"] == []
    if status in ("DISABLED", "DELETED"):
        name = "disableIntegration" if status == "DISABLED" else "deleteIntegration"
        await admin.data(f'mutation {{ {name}(integrationId: "{integration_id}") {{ status }} }}')
    state = await _state(admin, integration_id)
    assert state["status"] == status
    assert state["pausedReason"] == (reason or None)


@asynccontextmanager
async def _other_account(
    app_and_services: tuple[Any, Any], role: str = "admin"
) -> AsyncIterator[Api]:
    async with api_client(app_and_services, f"acct-{uuid.uuid4().hex[:10]}", role) as api:
        yield api


# -- the matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(MUTATIONS))
@pytest.mark.parametrize("start", STARTS)
async def test_transition_matrix(ingester: Api, admin: Api, start: str, action: str) -> None:
    await _make(ingester, admin, "int-1", start)
    before = await _state(admin, "int-1")
    expected = MATRIX[start][action]
    result = await _act(admin, action, "int-1")
    after = await _state(admin, "int-1")
    name, _ = MUTATIONS[action]
    if expected == _C:
        assert result.get("errors"), result
        assert [err["extensions"]["code"] for err in result["errors"]] == ["CONFLICT"]
        assert result.get("data") is None
        assert after == before  # status, reason and history untouched
        return
    assert not result.get("errors"), result
    assert result["data"][name] == {
        "integrationId": "int-1",
        "status": expected,
        "pausedReason": None,
    }
    assert after["status"] == expected
    assert after["pausedReason"] is None
    old_status = start.partition(":")[0]
    if old_status == expected:  # already there: a no-op that succeeds
        assert after["statusHistory"] == before["statusHistory"]
        return
    history = after["statusHistory"]
    assert history["totalCount"] == before["statusHistory"]["totalCount"] + 1
    assert history["nodes"][1:] == before["statusHistory"]["nodes"]
    assert history["nodes"][0] == {
        "from": old_status,
        "to": expected,
        "reason": None,
        "actor": "admin",
        "actorKind": "KEY",
        "actorRole": "ADMIN",
    }


@pytest.mark.parametrize("start", STARTS)
async def test_bulk_of_one_follows_the_matrix(ingester: Api, admin: Api, start: str) -> None:
    await _make(ingester, admin, "int-1", start)
    before = await _state(admin, "int-1")
    result = await admin.raw(
        'mutation { disableIntegrations(integrationIds: ["int-1"]) { integrationId status } }'
    )
    after = await _state(admin, "int-1")
    if MATRIX[start]["disable"] == _C:
        assert [err["extensions"]["code"] for err in result["errors"]] == ["CONFLICT"]
        assert after == before
    else:
        assert not result.get("errors"), result
        assert result["data"]["disableIntegrations"] == [
            {"integrationId": "int-1", "status": "DISABLED"}
        ]
        assert after["status"] == "DISABLED"


# -- idempotence ---------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(MUTATIONS))
async def test_repeating_an_action_succeeds_and_adds_no_history(
    ingester: Api, admin: Api, action: str
) -> None:
    await _make(ingester, admin, "int-1", "PAUSED:TOO_MANY_ERRORS")
    first = await _act(admin, action, "int-1")
    assert not first.get("errors"), first
    once = await _state(admin, "int-1")
    for _ in range(3):
        again = await _act(admin, action, "int-1")
        assert not again.get("errors"), again
        assert again["data"] == first["data"]
    assert await _state(admin, "int-1") == once
    assert once["statusHistory"]["totalCount"] == 3  # created, paused, the action


async def test_repeated_bulk_disable_is_a_no_op(ingester: Api, admin: Api) -> None:
    await _make(ingester, admin, "int-1", "ENABLED")
    query = 'mutation { disableIntegrations(integrationIds: ["int-1"]) { status } }'
    await admin.data(query)
    once = await _state(admin, "int-1")
    assert (await admin.data(query))["disableIntegrations"] == [{"status": "DISABLED"}]
    assert await _state(admin, "int-1") == once


# -- enabling resets the failure streak ----------------------------------------------------


def _failed_runs(prefix: str, integration_id: str, start: float, count: int) -> list[Any]:
    batch: list[Any] = []
    for r in range(count):
        batch += [
            e.run_started(f"{prefix}-{r}", integration_id, start + r * 10),
            e.run_finished(f"{prefix}-{r}", "FAILED", start + r * 10 + 5),
        ]
    return batch


async def _ingest_ok(ingester: Api, batch: list[Any]) -> None:
    result = await ingester.data(e.INGEST, {"events": batch})
    assert result["ingestEvents"]["rejected"] == [], result


async def test_enable_resets_consecutive_failures(ingester: Api, admin: Api) -> None:
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 3) { accountId } }")
    await _make(ingester, admin, "int-1", "ENABLED")
    # Two failures, then disable + enable: the streak starts again.
    await _ingest_ok(ingester, _failed_runs("a", "int-1", 10, 2))
    await admin.data('mutation { disableIntegration(integrationId: "int-1") { status } }')
    await admin.data('mutation { enableIntegration(integrationId: "int-1") { status } }')
    t = _now_offset(60)
    await _ingest_ok(ingester, _failed_runs("b", "int-1", t, 2))
    assert (await _state(admin, "int-1"))["status"] == "ENABLED"
    await _ingest_ok(ingester, _failed_runs("c", "int-1", t + 100, 1))
    state = await _state(admin, "int-1")
    assert (state["status"], state["pausedReason"]) == ("PAUSED", "TOO_MANY_ERRORS")
    assert state["statusHistory"]["nodes"][0]["actor"] == "auto-pause"
    assert state["statusHistory"]["nodes"][0]["actorKind"] == "AUTO_PAUSE"
    # Enabling the auto-paused integration: again a full new streak is needed.
    await admin.data('mutation { enableIntegration(integrationId: "int-1") { status } }')
    await _ingest_ok(ingester, _failed_runs("d", "int-1", t + 200, 2))
    assert (await _state(admin, "int-1"))["status"] == "ENABLED"
    await _ingest_ok(ingester, _failed_runs("e", "int-1", t + 300, 1))
    assert (await _state(admin, "int-1"))["status"] == "PAUSED"


async def test_no_op_enable_does_not_reset_the_streak(ingester: Api, admin: Api) -> None:
    """Enabling an ENABLED integration changes nothing, not even the failure count."""
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 3) { accountId } }")
    await _make(ingester, admin, "int-1", "ENABLED")
    await _ingest_ok(ingester, _failed_runs("a", "int-1", 10, 2))
    await admin.data('mutation { enableIntegration(integrationId: "int-1") { status } }')
    await _ingest_ok(ingester, _failed_runs("b", "int-1", 100, 1))
    assert (await _state(admin, "int-1"))["status"] == "PAUSED"


# -- runs after a change -------------------------------------------------------------------


async def _start_run(ingester: Api, run_id: str, t: float) -> list[dict[str, Any]]:
    result = await ingester.data(e.INGEST, {"events": [e.run_started(run_id, "int-1", t)]})
    rejected: list[dict[str, Any]] = result["ingestEvents"]["rejected"]
    return rejected


@pytest.mark.parametrize("action", ["disable", "delete"])
async def test_run_after_a_mutation_is_not_received(ingester: Api, admin: Api, action: str) -> None:
    await _make(ingester, admin, "int-1", "ENABLED")
    before_change = _now_offset(-30)
    assert not (await _act(admin, action, "int-1")).get("errors")
    rejected = await _start_run(ingester, "late", _now_offset(60))
    assert [(r["code"], r["index"]) for r in rejected] == [("INTEGRATION_NOT_RECEIVING", 0)]
    assert await _start_run(ingester, "early", before_change) == []
    data = await admin.data(
        '{ integration(integrationId: "int-1") { runs { nodes { runId status } } } }'
    )
    assert data["integration"]["runs"]["nodes"] == [{"runId": "early", "status": "RUNNING"}]


async def test_paused_then_disabled_keeps_rejecting_from_the_pause(
    ingester: Api, admin: Api
) -> None:
    await _make(ingester, admin, "int-1", "PAUSED:BILLING")  # paused at T0+5
    await admin.data('mutation { disableIntegration(integrationId: "int-1") { status } }')
    assert await _start_run(ingester, "before-pause", 3) == []
    assert [r["code"] for r in await _start_run(ingester, "after-pause", 10)] == [
        "INTEGRATION_NOT_RECEIVING"
    ]
    assert [r["code"] for r in await _start_run(ingester, "after-disable", _now_offset(60))] == [
        "INTEGRATION_NOT_RECEIVING"
    ]


@pytest.mark.parametrize("start", ["DISABLED", "PAUSED:TOO_MANY_ERRORS", "PAUSED:BILLING"])
async def test_enable_receives_runs_again(ingester: Api, admin: Api, start: str) -> None:
    await _make(ingester, admin, "int-1", start)
    assert [r["code"] for r in await _start_run(ingester, "r1", _now_offset(60))] == [
        "INTEGRATION_NOT_RECEIVING"
    ]
    await admin.data('mutation { enableIntegration(integrationId: "int-1") { status } }')
    assert await _start_run(ingester, "r2", _now_offset(120)) == []


# -- roles ---------------------------------------------------------------------------------

ADMIN_MUTATIONS = [
    'disableIntegration(integrationId: "int-1") { status }',
    'enableIntegration(integrationId: "int-1") { status }',
    'deleteIntegration(integrationId: "int-1") { status }',
    'disableIntegrations(integrationIds: ["int-1"]) { status }',
    'setTaskLimit(userId: "user@example.com", limit: 5) { taskLimit }',
    "setAccountSettings(autoPauseAfterFailures: 2) { autoPauseAfterFailures }",
]


@pytest.mark.parametrize("role", ["viewer", "ingest"])
@pytest.mark.parametrize("mutation", ADMIN_MUTATIONS, ids=lambda m: m.split("(")[0])
async def test_non_admin_keys_are_forbidden(
    app_and_services: tuple[Any, Any],
    account_id: str,
    ingester: Api,
    admin: Api,
    role: str,
    mutation: str,
) -> None:
    await _make(ingester, admin, "int-1", "PAUSED:TOO_MANY_ERRORS")
    before = await _state(admin, "int-1")
    settings_before = await admin.data("{ viewer { autoPauseAfterFailures retentionDays } }")
    user_before = await admin.data('{ endUser(userId: "user@example.com") { taskLimit } }')
    async with api_client(app_and_services, account_id, role) as caller:
        result = await caller.raw(f"mutation {{ {mutation} }}")
    assert [err["extensions"]["code"] for err in result["errors"]] == ["FORBIDDEN"]
    assert result.get("data") is None
    assert await _state(admin, "int-1") == before
    assert await admin.data("{ viewer { autoPauseAfterFailures retentionDays } }") == (
        settings_before
    )
    assert await admin.data('{ endUser(userId: "user@example.com") { taskLimit } }') == (
        user_before
    )


async def test_forbidden_even_for_unknown_ids(viewer: Api) -> None:
    """The role is checked first: a viewer learns nothing about which IDs exist."""
    for name in ("disableIntegration", "enableIntegration", "deleteIntegration"):
        assert await viewer.error_codes(
            f'mutation {{ {name}(integrationId: "nope") {{ status }} }}'
        ) == ["FORBIDDEN"]
    assert await viewer.error_codes(
        'mutation { disableIntegrations(integrationIds: ["nope"]) { status } }'
    ) == ["FORBIDDEN"]


# -- tenant isolation ----------------------------------------------------------------------

ISOLATION_CASES = [
    ("disableIntegration", 'disableIntegration(integrationId: "{id}") {{ status }}'),
    ("enableIntegration", 'enableIntegration(integrationId: "{id}") {{ status }}'),
    ("deleteIntegration", 'deleteIntegration(integrationId: "{id}") {{ status }}'),
    ("bulk", 'disableIntegrations(integrationIds: ["{id}"]) {{ status }}'),
    ("bulk-mixed", 'disableIntegrations(integrationIds: ["mine", "{id}"]) {{ status }}'),
]


@pytest.mark.parametrize(
    "other_status", ["ENABLED", "INITIALIZING", "DISABLED", "DELETED", "PAUSED:BILLING"]
)
@pytest.mark.parametrize(
    "template", [c[1] for c in ISOLATION_CASES], ids=[c[0] for c in ISOLATION_CASES]
)
async def test_other_accounts_integrations_are_not_found(
    app_and_services: tuple[Any, Any],
    ingester: Api,
    admin: Api,
    other_status: str,
    template: str,
) -> None:
    await _make(ingester, admin, "mine", "ENABLED")
    mine_before = await _state(admin, "mine")
    async with _other_account(app_and_services) as other_admin:
        async with api_client(app_and_services, other_admin.account_id, "ingest") as other_ing:
            await _make(other_ing, other_admin, "theirs", other_status)
        theirs_before = await _state(other_admin, "theirs")
        result = await admin.raw("mutation { " + template.format(id="theirs") + " }")
        assert [err["extensions"]["code"] for err in result["errors"]] == ["NOT_FOUND"]
        assert await _state(other_admin, "theirs") == theirs_before
        assert await _state(admin, "mine") == mine_before
        # And the caller does not see it by reading either.
        assert (await admin.data(STATE, {"id": "theirs"}))["integration"] is None


async def test_same_id_in_two_accounts_only_acts_on_ones_own(
    app_and_services: tuple[Any, Any], ingester: Api, admin: Api
) -> None:
    await _make(ingester, admin, "int-1", "ENABLED")
    async with _other_account(app_and_services) as other_admin:
        async with api_client(app_and_services, other_admin.account_id, "ingest") as other_ing:
            await _make(other_ing, other_admin, "int-1", "ENABLED")
        theirs_before = await _state(other_admin, "int-1")
        for action in ("disable", "enable"):
            assert not (await _act(admin, action, "int-1")).get("errors")
        await admin.data('mutation { disableIntegrations(integrationIds: ["int-1"]) { status } }')
        assert not (await _act(admin, "delete", "int-1")).get("errors")
        assert (await _state(admin, "int-1"))["status"] == "DELETED"
        assert await _state(other_admin, "int-1") == theirs_before


async def test_other_accounts_end_user_is_not_found(
    app_and_services: tuple[Any, Any], admin: Api
) -> None:
    async with _other_account(app_and_services) as other_admin:
        async with api_client(app_and_services, other_admin.account_id, "ingest") as other_ing:
            await _make(other_ing, other_admin, "int-1", "ENABLED")
        codes = await admin.error_codes(
            'mutation { setTaskLimit(userId: "user@example.com", limit: 0) { taskLimit } }'
        )
        assert codes == ["NOT_FOUND"]
        assert (await _state(other_admin, "int-1"))["status"] == "ENABLED"


# -- bulk ----------------------------------------------------------------------------------

BULK = """mutation($ids: [String!]!) {
  disableIntegrations(integrationIds: $ids) { integrationId status pausedReason } }"""


async def _make_many(ingester: Api, admin: Api, starts: dict[str, str]) -> None:
    for integration_id, start in starts.items():
        await _make(ingester, admin, integration_id, start)


async def _snapshot(api: Api, ids: list[str]) -> dict[str, Any]:
    return {i: await _state(api, i) for i in ids}


@pytest.mark.parametrize(
    ("bad", "code"),
    [("nope", "NOT_FOUND"), ("deleted", "CONFLICT"), ("initializing", "CONFLICT")],
)
async def test_bulk_is_all_or_nothing(ingester: Api, admin: Api, bad: str, code: str) -> None:
    starts = {
        "a": "ENABLED",
        "b": "PAUSED:TOO_MANY_ERRORS",
        "c": "DISABLED",
        "deleted": "DELETED",
        "initializing": "INITIALIZING",
    }
    await _make_many(ingester, admin, starts)
    before = await _snapshot(admin, list(starts))
    for ids in (["a", "b", bad], [bad, "a", "b"], ["a", bad, "c", "b"]):
        assert await admin.error_codes(BULK, {"ids": ids}) == [code]
        assert await _snapshot(admin, list(starts)) == before


async def test_bulk_disables_what_is_not_disabled_yet(ingester: Api, admin: Api) -> None:
    starts = {"a": "ENABLED", "b": "PAUSED:BILLING", "c": "DISABLED"}
    await _make_many(ingester, admin, starts)
    before = await _snapshot(admin, list(starts))
    data = await admin.data(BULK, {"ids": ["c", "a", "b"]})
    assert data["disableIntegrations"] == [
        {"integrationId": i, "status": "DISABLED", "pausedReason": None} for i in ("c", "a", "b")
    ]
    after = await _snapshot(admin, list(starts))
    assert after["c"] == before["c"]
    for i, was in (("a", "ENABLED"), ("b", "PAUSED")):
        history = after[i]["statusHistory"]
        assert history["totalCount"] == before[i]["statusHistory"]["totalCount"] + 1
        assert (history["nodes"][0]["from"], history["nodes"][0]["to"]) == (was, "DISABLED")


async def test_bulk_with_duplicates(ingester: Api, admin: Api) -> None:
    await _make_many(ingester, admin, {"a": "ENABLED", "b": "ENABLED"})
    data = await admin.data(BULK, {"ids": ["a", "b", "a", "a"]})
    assert {i["integrationId"] for i in data["disableIntegrations"]} == {"a", "b"}
    assert {i["status"] for i in data["disableIntegrations"]} == {"DISABLED"}
    for i in ("a", "b"):
        history = (await _state(admin, i))["statusHistory"]
        assert history["totalCount"] == 2  # created, disabled once
        assert [n["to"] for n in history["nodes"]] == ["DISABLED", "ENABLED"]


async def test_bulk_limit(ingester: Api, admin: Api) -> None:
    ids = [f"int-{n:03}" for n in range(101)]
    await _ingest_ok(ingester, [e.flow()] + [e.integration(i) for i in ids])
    assert await admin.error_codes(BULK, {"ids": ids}) == ["BAD_USER_INPUT"]
    data = await admin.data(
        '{ flow(flowId: "flow-1") { stats { integrationCount } '
        "integrations(first: 100, filter: {status: [DISABLED]}) { totalCount } } }"
    )
    assert data["flow"]["integrations"]["totalCount"] == 0
    data = await admin.data(BULK, {"ids": ids[:100]})
    assert len(data["disableIntegrations"]) == 100
    assert {i["status"] for i in data["disableIntegrations"]} == {"DISABLED"}
    assert (await _state(admin, "int-100"))["status"] == "ENABLED"


async def test_bulk_over_the_limit_with_unknown_ids_is_bad_input(admin: Api) -> None:
    ids = [f"nope-{n}" for n in range(101)]
    body = await admin.raw(BULK, {"ids": ids})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    # the bulk action's own limit answers, not the generic bound on list arguments
    assert error["message"] == "At most 100 integrations at once, got 101."


async def test_bulk_empty_list(admin: Api) -> None:
    assert await admin.error_codes(BULK, {"ids": []}) == ["BAD_USER_INPUT"]


async def test_unknown_integration_is_not_found(admin: Api) -> None:
    for action in MUTATIONS:
        result = await _act(admin, action, "nope")
        assert [err["extensions"]["code"] for err in result["errors"]] == ["NOT_FOUND"]


# -- odd input, and what the mutation answers ----------------------------------------------


async def test_malformed_ids_are_not_internal_errors(admin: Api) -> None:
    for bad in ("", "x" * 500, "with space", "ünïcode", "a\u0000b"):
        for action in MUTATIONS:
            result = await _act(admin, action, bad)
            codes = [err["extensions"]["code"] for err in result["errors"]]
            assert codes in (["NOT_FOUND"], ["BAD_USER_INPUT"]), (bad, result)
        codes = await admin.error_codes(BULK, {"ids": ["x" * 500]})
        assert codes in (["NOT_FOUND"], ["BAD_USER_INPUT"])


async def test_mutation_answer_reads_the_new_state(ingester: Api, admin: Api) -> None:
    await _make(ingester, admin, "int-1", "PAUSED:BILLING")
    data = await admin.data(
        'mutation { disableIntegration(integrationId: "int-1") { id status pausedReason '
        "flow { flowId } statusHistory(first: 1) { totalCount nodes { from to actor } } } }"
    )
    answer = data["disableIntegration"]
    assert answer["flow"] == {"flowId": "flow-1"}
    assert answer["statusHistory"] == {
        "totalCount": 3,
        "nodes": [{"from": "PAUSED", "to": "DISABLED", "actor": "admin"}],
    }
    node = await admin.data(
        "query($id: ID!) { node(id: $id) { ... on Integration { status } } }", {"id": answer["id"]}
    )
    assert node["node"] == {"status": "DISABLED"}


@pytest.mark.parametrize("action", ["disable", "delete"])
async def test_removing_a_task_limit_does_not_undo_an_admin_action(
    ingester: Api, admin: Api, action: str
) -> None:
    await _make(ingester, admin, "int-1", "ENABLED")
    await admin.data(
        'mutation { setTaskLimit(userId: "user@example.com", limit: 0) { taskLimit } }'
    )
    assert (await _state(admin, "int-1"))["pausedReason"] == "BILLING"
    assert not (await _act(admin, action, "int-1")).get("errors")
    await admin.data(
        'mutation { setTaskLimit(userId: "user@example.com", limit: null) { taskLimit } }'
    )
    state = await _state(admin, "int-1")
    assert state["status"] == MUTATIONS[action][1]
    assert state["statusHistory"]["nodes"][0]["actor"] == "admin"
