"""Concurrent actions on one integration, from two keys: every call succeeds or is a CONFLICT,
and the final status and the history tell one consistent story (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx

from gateway.auth.keys import create_key
from tests import events as e
from tests.conftest import Api

TARGET = {
    "disableIntegration": "DISABLED",
    "enableIntegration": "ENABLED",
    "deleteIntegration": "DELETED",
    "disableIntegrations": "DISABLED",
}

HISTORY = """query($id: String!, $after: String) { integration(integrationId: $id) { status
  statusHistory(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    nodes { at from to reason actor actorKind } } } }"""


@asynccontextmanager
async def _named_admin(
    app_and_services: tuple[Any, Any], account_id: str, name: str
) -> AsyncIterator[Api]:
    app, services = app_and_services
    key = await create_key(services.db, account_id, "admin", name)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    ) as http:
        yield Api(http, account_id)


async def _call(api: Api, name: str, integration_id: str) -> tuple[str, str | None]:
    """(name, resulting status) on success, (name, None) on CONFLICT; anything else fails."""
    if name == "disableIntegrations":
        query = f'mutation {{ {name}(integrationIds: ["{integration_id}"]) {{ status }} }}'
    else:
        query = f'mutation {{ {name}(integrationId: "{integration_id}") {{ status }} }}'
    result = await api.raw(query)
    if result.get("errors"):
        codes = [err["extensions"]["code"] for err in result["errors"]]
        assert codes == ["CONFLICT"], result
        return name, None
    data = result["data"][name]
    status = data[0]["status"] if isinstance(data, list) else data["status"]
    assert status == TARGET[name], (name, result)
    return name, status


async def _full_history(api: Api, integration_id: str) -> tuple[str, int, list[dict[str, Any]]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = (await api.data(HISTORY, {"id": integration_id, "after": after}))["integration"]
        history = data["statusHistory"]
        nodes += history["nodes"]
        if not history["pageInfo"]["hasNextPage"]:
            return data["status"], history["totalCount"], nodes
        after = history["pageInfo"]["endCursor"]


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _check_story(
    status: str, total: int, nodes: list[dict[str, Any]], results: list[tuple[str, str, Any]]
) -> None:
    assert total == len(nodes)
    assert nodes[0]["to"] == status, "final status is the newest entry's `to`"
    oldest_first = nodes[::-1]
    assert oldest_first[0]["from"] is None
    for older, newer in itertools.pairwise(oldest_first):
        assert newer["from"] == older["to"], f"broken chain: {older} then {newer}"
        assert newer["from"] != newer["to"]
        assert _parse(newer["at"]) >= _parse(older["at"]), "history goes back in time"
    # Each key entry is one successful call of that client, never more.
    key_entries = [n for n in nodes if n["actorKind"] == "KEY"]
    successes = Counter((client, TARGET[name]) for client, name, got in results if got is not None)
    entries = Counter((n["actor"], n["to"]) for n in key_entries)
    for what, count in entries.items():
        assert count <= successes[what], (what, count, successes[what])
    # Nothing lost: every change of status that a call reported is in the history. A call that
    # moved the status has an entry: so the entries are at least the distinct status moves.
    assert len(key_entries) == len(nodes) - 1  # all but the creation come from the two keys
    assert status == "DELETED" or all(n["to"] != "DELETED" for n in nodes)
    if status == "DELETED":
        assert [n["to"] for n in nodes].count("DELETED") == 1


async def _rounds(
    alice: Api, bob: Api, integration_id: str, rounds: int, seed: int
) -> list[tuple[str, str, Any]]:
    rng = random.Random(seed)
    names = ["disableIntegration", "enableIntegration", "disableIntegrations"]
    results: list[tuple[str, str, Any]] = []
    for r in range(rounds):
        plan: list[tuple[str, Api, str]] = []
        for _ in range(6):
            client_name, client = rng.choice([("alice", alice), ("bob", bob)])
            plan.append((client_name, client, rng.choice(names)))
        if r == rounds - 1:
            plan.insert(rng.randrange(len(plan)), ("bob", bob, "deleteIntegration"))
            plan.insert(rng.randrange(len(plan)), ("alice", alice, "deleteIntegration"))
        outcomes = await asyncio.gather(*(_call(c, n, integration_id) for _, c, n in plan))
        results += [(cn, n, got) for (cn, _, n), (_, got) in zip(plan, outcomes, strict=True)]
    return results


async def test_concurrent_actions_tell_one_story(
    app_and_services: tuple[Any, Any], account_id: str, ingester: Api
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    async with (
        _named_admin(app_and_services, account_id, "alice") as alice,
        _named_admin(app_and_services, account_id, "bob") as bob,
    ):
        results = await _rounds(alice, bob, "int-1", rounds=12, seed=7)
        status, total, nodes = await _full_history(alice, "int-1")
    assert status == "DELETED"
    # both deletes succeed: one deletes, the other finds it deleted already (a no-op)
    assert [got for _, n, got in results if n == "deleteIntegration"] == ["DELETED", "DELETED"]
    _check_story(status, total, nodes, results)
    # calls after the delete cannot have succeeded in changing anything
    assert nodes[0]["to"] == "DELETED"


async def test_concurrent_actions_on_several_integrations(
    app_and_services: tuple[Any, Any], account_id: str, ingester: Api
) -> None:
    ids = [f"int-{n}" for n in range(4)]
    await ingester.data(e.INGEST, {"events": [e.flow()] + [e.integration(i) for i in ids]})
    async with (
        _named_admin(app_and_services, account_id, "alice") as alice,
        _named_admin(app_and_services, account_id, "bob") as bob,
    ):
        all_results = await asyncio.gather(
            *(_rounds(alice, bob, i, rounds=4, seed=n) for n, i in enumerate(ids))
        )
        for integration_id, results in zip(ids, all_results, strict=True):
            status, total, nodes = await _full_history(alice, integration_id)
            _check_story(status, total, nodes, results)
            assert status == "DELETED"


async def test_concurrent_bulk_and_single_actions(
    app_and_services: tuple[Any, Any], account_id: str, ingester: Api
) -> None:
    """Bulk calls over overlapping sets, beside single enables: each bulk call is applied whole
    or not at all, and every integration's history still chains."""
    ids = [f"int-{n}" for n in range(6)]
    await ingester.data(e.INGEST, {"events": [e.flow()] + [e.integration(i) for i in ids]})
    async with (
        _named_admin(app_and_services, account_id, "alice") as alice,
        _named_admin(app_and_services, account_id, "bob") as bob,
    ):
        for r in range(5):
            calls = [
                alice.raw(
                    "mutation($ids: [String!]!) { disableIntegrations(integrationIds: $ids) "
                    "{ status } }",
                    {"ids": ids[r % 3 : r % 3 + 4]},
                ),
                bob.raw(
                    "mutation($ids: [String!]!) { disableIntegrations(integrationIds: $ids) "
                    "{ status } }",
                    {"ids": list(reversed(ids))},
                ),
            ] + [
                (alice if n % 2 else bob).raw(
                    f'mutation {{ enableIntegration(integrationId: "{i}") {{ status }} }}'
                )
                for n, i in enumerate(ids)
            ]
            for result in await asyncio.gather(*calls):
                assert not result.get("errors"), result
        for integration_id in ids:
            status, total, nodes = await _full_history(alice, integration_id)
            assert total == len(nodes)
            assert nodes[0]["to"] == status
            oldest_first = nodes[::-1]
            for older, newer in itertools.pairwise(oldest_first):
                assert newer["from"] == older["to"]
                assert _parse(newer["at"]) >= _parse(older["at"])
