"""Integration.statusHistory: order, paging, counts, and who made each change."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import httpx

from gateway.auth.keys import create_key
from tests import events as e
from tests.conftest import Api

FIELDS = "at from to reason actor actorKind actorRole"
HISTORY = (
    """query($id: String!, $first: Int, $after: String) { integration(integrationId: $id) {
  statusHistory(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { FIELDS } } } } }"""
).replace("FIELDS", FIELDS)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _history(api: Api, integration_id: str, first: int = 100, after: str | None = None):
    data = await api.data(HISTORY, {"id": integration_id, "first": first, "after": after})
    return data["integration"]["statusHistory"]


async def _ingest_ok(ingester: Api, batch: list[Any]) -> None:
    result = await ingester.data(e.INGEST, {"events": batch})
    assert result["ingestEvents"]["rejected"] == [], result


async def _mutate(api: Api, name: str, integration_id: str = "int-1") -> None:
    await api.data(f'mutation {{ {name}(integrationId: "{integration_id}") {{ status }} }}')


async def test_key_name_and_role_are_the_actor(
    app_and_services: tuple[Any, Any], account_id: str, ingester: Api, viewer: Api
) -> None:
    await _ingest_ok(ingester, [e.flow(), e.integration("int-1")])
    app, services = app_and_services
    key = await create_key(services.db, account_id, "admin", "support bot")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        bot = Api(http, account_id)
        before = datetime.now(UTC)
        await _mutate(bot, "disableIntegration")
        after = datetime.now(UTC)
    history = await _history(viewer, "int-1")  # viewers read the history too
    assert history["totalCount"] == 2
    newest = history["edges"][0]["node"]
    assert {k: newest[k] for k in ("from", "to", "reason", "actor", "actorKind", "actorRole")} == {
        "from": "ENABLED",
        "to": "DISABLED",
        "reason": None,
        "actor": "support bot",
        "actorKind": "KEY",
        "actorRole": "ADMIN",
    }
    assert before.replace(microsecond=0) <= _parse(newest["at"]) <= after


async def test_engine_changes_creation_and_pause_reason(ingester: Api, admin: Api) -> None:
    await _ingest_ok(
        ingester,
        [
            e.flow(),
            e.integration("int-1", status="INITIALIZING", t=1),
            e.ev("integrationStatusChanged", 2, integrationId="int-1", status="ENABLED"),
            e.ev(
                "integrationStatusChanged",
                3,
                integrationId="int-1",
                status="PAUSED",
                reason="TOO_MANY_ERRORS",
            ),
            e.ev(
                "integrationStatusChanged",
                4,
                integrationId="int-1",
                status="PAUSED",
                reason="BILLING",
            ),
        ],
    )
    await _mutate(admin, "enableIntegration")
    nodes = [edge["node"] for edge in (await _history(admin, "int-1"))["edges"]]
    assert [
        (n["from"], n["to"], n["reason"], n["actor"], n["actorKind"], n["actorRole"]) for n in nodes
    ] == [
        ("PAUSED", "ENABLED", None, "admin", "KEY", "ADMIN"),
        ("PAUSED", "PAUSED", "BILLING", "engine", "ENGINE", None),
        ("ENABLED", "PAUSED", "TOO_MANY_ERRORS", "engine", "ENGINE", None),
        ("INITIALIZING", "ENABLED", None, "engine", "ENGINE", None),
        (None, "INITIALIZING", None, "engine", "ENGINE", None),
    ]
    assert [n["at"] for n in nodes[1:]] == [e.at(4), e.at(3), e.at(2), e.at(1)]
    assert _parse(nodes[0]["at"]) > _parse(nodes[1]["at"])


async def test_failed_to_initialize_is_recorded(ingester: Api, admin: Api) -> None:
    await _ingest_ok(
        ingester,
        [
            e.flow(),
            e.integration("int-1", status="INITIALIZING"),
            e.ev(
                "integrationStatusChanged", 5, integrationId="int-1", status="FAILED_TO_INITIALIZE"
            ),
        ],
    )
    await _mutate(admin, "deleteIntegration")
    nodes = [edge["node"] for edge in (await _history(admin, "int-1"))["edges"]]
    assert [(n["from"], n["to"]) for n in nodes] == [
        ("FAILED_TO_INITIALIZE", "DELETED"),
        ("INITIALIZING", "FAILED_TO_INITIALIZE"),
        (None, "INITIALIZING"),
    ]


async def test_auto_pause_and_task_limit_actors(ingester: Api, admin: Api) -> None:
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 1) { accountId } }")
    await _ingest_ok(
        ingester,
        [
            e.flow(),
            e.integration("int-1", user_id="ann"),
            e.integration("int-2", user_id="bob"),
            e.run_started("r1", "int-1", 10),
            e.run_finished("r1", "FAILED", 11),
        ],
    )
    await admin.data('mutation { setTaskLimit(userId: "bob", limit: 0) { taskLimit } }')
    first = (await _history(admin, "int-1"))["edges"][0]["node"]
    assert (first["to"], first["reason"], first["actor"], first["actorKind"]) == (
        "PAUSED",
        "TOO_MANY_ERRORS",
        "auto-pause",
        "AUTO_PAUSE",
    )
    assert first["actorRole"] is None
    second = (await _history(admin, "int-2"))["edges"][0]["node"]
    assert (second["to"], second["reason"], second["actorKind"]) == (
        "PAUSED",
        "BILLING",
        "TASK_LIMIT",
    )


async def test_pagination_newest_first_without_gap_or_repeat(ingester: Api, admin: Api) -> None:
    await _ingest_ok(ingester, [e.flow(), e.integration("int-1")])
    for _ in range(3):
        await _mutate(admin, "disableIntegration")
        await _mutate(admin, "enableIntegration")
    await _mutate(admin, "deleteIntegration")
    everything = await _history(admin, "int-1")
    assert everything["totalCount"] == 8
    assert everything["pageInfo"]["hasNextPage"] is False
    all_nodes = [edge["node"] for edge in everything["edges"]]
    assert [(n["from"], n["to"]) for n in all_nodes] == [("ENABLED", "DELETED")] + [
        ("DISABLED", "ENABLED"),
        ("ENABLED", "DISABLED"),
    ] * 3 + [(None, "ENABLED")]
    # the chain: each entry starts where the one before it ended
    for newer, older in itertools.pairwise(all_nodes):
        assert newer["from"] == older["to"]
        assert _parse(newer["at"]) >= _parse(older["at"])
    for size in (1, 3, 5, 8):
        seen: list[dict[str, Any]] = []
        cursors: list[str] = []
        after = None
        pages = 0
        while True:
            page = await _history(admin, "int-1", size, after)
            pages += 1
            assert page["totalCount"] == 8
            assert 1 <= len(page["edges"]) <= size
            seen += [edge["node"] for edge in page["edges"]]
            cursors += [edge["cursor"] for edge in page["edges"]]
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            assert pages < 10
        assert seen == all_nodes
        assert len(set(cursors)) == 8
        assert pages == -(-8 // size)


async def test_history_page_stays_stable_when_new_changes_arrive(ingester: Api, admin: Api) -> None:
    """Keyset paging: a change made between two pages does not shift the second page."""
    await _ingest_ok(ingester, [e.flow(), e.integration("int-1")])
    for _ in range(2):
        await _mutate(admin, "disableIntegration")
        await _mutate(admin, "enableIntegration")
    everything = [edge["node"] for edge in (await _history(admin, "int-1"))["edges"]]
    page1 = await _history(admin, "int-1", 2)
    await _mutate(admin, "disableIntegration")
    page2 = await _history(admin, "int-1", 2, page1["pageInfo"]["endCursor"])
    assert [edge["node"] for edge in page2["edges"]] == everything[2:4]
    assert page2["totalCount"] == 6


async def test_history_of_many_integrations_in_one_query(ingester: Api, admin: Api) -> None:
    await _ingest_ok(ingester, [e.flow()] + [e.integration(f"int-{n}", t=n) for n in range(4)])
    for n in range(4):
        for _ in range(n):
            await _mutate(admin, "disableIntegration", f"int-{n}")
            await _mutate(admin, "enableIntegration", f"int-{n}")
    data = await admin.data(
        '{ flow(flowId: "flow-1") { integrations(first: 10) { nodes { integrationId '
        "statusHistory(first: 2) { totalCount pageInfo { hasNextPage } nodes { from to } } } } } }"
    )
    got = {i["integrationId"]: i["statusHistory"] for i in data["flow"]["integrations"]["nodes"]}
    assert set(got) == {f"int-{n}" for n in range(4)}
    for n in range(4):
        history = got[f"int-{n}"]
        assert history["totalCount"] == 1 + 2 * n
        assert history["pageInfo"]["hasNextPage"] is (n > 0)
        expected: list[tuple[str | None, str]] = [(None, "ENABLED")]
        if n:
            expected = [("DISABLED", "ENABLED"), ("ENABLED", "DISABLED")]
        assert [(h["from"], h["to"]) for h in history["nodes"]] == expected


async def test_history_page_size_limits(ingester: Api, admin: Api) -> None:
    await _ingest_ok(ingester, [e.flow(), e.integration("int-1")])
    for first in (0, -1, 101):
        assert await admin.error_codes(HISTORY, {"id": "int-1", "first": first}) == [
            "BAD_USER_INPUT"
        ]
    assert await admin.error_codes(
        HISTORY, {"id": "int-1", "first": 2, "after": "not-a-cursor"}
    ) == ["BAD_USER_INPUT"]


async def test_failed_actions_leave_no_history(ingester: Api, admin: Api) -> None:
    await _ingest_ok(ingester, [e.flow(), e.integration("int-1", status="INITIALIZING")])
    for name in ("disableIntegration", "enableIntegration"):
        assert await admin.error_codes(
            f'mutation {{ {name}(integrationId: "int-1") {{ status }} }}'
        ) == ["CONFLICT"]
    assert await admin.error_codes(
        'mutation { disableIntegrations(integrationIds: ["int-1"]) { status } }'
    ) == ["CONFLICT"]
    history = await _history(admin, "int-1")
    assert history["totalCount"] == 1
    assert [(ed["node"]["from"], ed["node"]["to"]) for ed in history["edges"]] == [
        (None, "INITIALIZING")
    ]
