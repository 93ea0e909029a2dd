"""Out of order is normal: every order of one run's events yields the same final state.

Each scenario is one run of six events; the integration and flow exist beforehand. All 720
orders go through the service on SQLite, a sample on PostgreSQL, a few through HTTP, and a
sample with one event per batch. Scenarios:

- ``two-steps``: runStarted, stepStarted x2, stepFinished x2, runFinished;
- ``timeout``: the failing last step got no response (a timeout), after an earlier step that
  got a 200, and its stepFinished comes twice: the run's networkCode is null in every order.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from gateway.db import tables as t
from gateway.services import Services
from tests import events as e
from tests.test_ingest_support import RECENT, client, ingest_direct, send, state

B = RECENT


def _setup() -> list[dict[str, Any]]:
    return [e.flow(t=B), e.integration("int-1", t=B + 1)]


def _with_fixed_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Fixed event IDs: every account sees the same six events.
    for n, item in enumerate(items):
        next(iter(item.values()))["eventId"] = f"run-ev-{n}"
    return items


def _run(steps: list[dict[str, Any]], tasks: int, network_code: int | None) -> dict[str, Any]:
    return {
        "status": "FAILED",
        "startTime": e.at(B + 10),
        "endTime": e.at(B + 14),
        "duration": 4000,
        "networkCode": network_code,
        "tasksConsumed": tasks,
        "steps": {"nodes": steps},
    }


def _step(step_id: str, position: int, status: str, code: int | None) -> dict[str, Any]:
    return {
        "stepId": step_id,
        "position": position,
        "status": status,
        "startTime": e.at(B + 10 + position),
        "endTime": e.at(B + 11 + position),
        "duration": 1000,
        "networkCode": code,
    }


def _expected(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": run,
        "integration": {
            "status": "ENABLED",
            "lastRunStart": e.at(B + 10),
            "lastRunStatus": "FAILED",
            "tasksConsumed": run["tasksConsumed"],
        },
        "flow": {
            "stats": {
                "tasksConsumed": run["tasksConsumed"],
                "failingCount": 1,
                "timeline": [
                    {
                        "hour": e.at(B + 10 - (B + 10) % 3600),
                        "runs": 1,
                        "failedRuns": 1,
                        "tasks": run["tasksConsumed"],
                    }
                ],
            }
        },
    }


Scenario = tuple[list[dict[str, Any]], dict[str, Any]]  # (events, expected state)
TIMED_OUT = e.step_finished("s2", "run-1", 2, B + 12, B + 13, status="FAILED", code=None)
SCENARIOS: dict[str, Scenario] = {
    "two-steps": (
        _with_fixed_ids(
            [
                e.run_started("run-1", "int-1", B + 10),
                e.step_started("s1", "run-1", 1, B + 11),
                e.step_started("s2", "run-1", 2, B + 12),
                e.step_finished("s1", "run-1", 1, B + 11, B + 12, status="OK", code=200),
                e.step_finished("s2", "run-1", 2, B + 12, B + 13, status="FAILED", code=404),
                e.run_finished("run-1", "FAILED", B + 14),
            ]
        ),
        _expected(
            _run([_step("s1", 1, "OK", 200), _step("s2", 2, "FAILED", 404)], 1, 404),
        ),
    ),
    "timeout": (
        _with_fixed_ids(
            [
                e.run_started("run-1", "int-1", B + 10),
                e.step_started("s2", "run-1", 2, B + 12),
                e.step_finished("s1", "run-1", 1, B + 11, B + 12, status="OK", code=200),
                TIMED_OUT,
                # The same stepFinished again, under another eventId.
                {kind: dict(fields) for kind, fields in TIMED_OUT.items()},
                e.run_finished("run-1", "FAILED", B + 14),
            ]
        ),
        _expected(
            _run([_step("s1", 1, "OK", 200), _step("s2", 2, "FAILED", None)], 1, None),
        ),
    ),
}
PERMUTATIONS = list(itertools.permutations(range(6)))


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> Scenario:
    return SCENARIOS[request.param]


_SNAPSHOT_TABLES = (
    t.flows,
    t.integrations,
    t.runs,
    t.steps,
    t.flow_hours,
    t.early_run_finishes,
    t.apps,
)


async def _rows(services: Services, account_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored row of the account (derived columns included), without the account ID."""
    out = {}
    async with services.db.read() as conn:
        for table in _SNAPSHOT_TABLES:
            pk = list(table.primary_key.columns)
            rows = await conn.execute(
                select(table).where(table.c.account_id == account_id).order_by(*pk)
            )
            out[table.name] = [
                {k: v for k, v in row._mapping.items() if k != "account_id"} for row in rows
            ]
    return out


async def _apply(
    services: Services, events: list[dict[str, Any]], order: tuple[int, ...], one_per_batch: bool
) -> str:
    account_id = f"perm-{uuid.uuid4().hex[:12]}"
    outcome = await ingest_direct(services, account_id, _setup())
    assert outcome.accepted == 2
    batch = [events[i] for i in order]
    batches = [[item] for item in batch] if one_per_batch else [batch]
    for part in batches:
        outcome = await ingest_direct(services, account_id, part)
        assert (outcome.accepted, outcome.duplicates, outcome.rejected) == (len(part), 0, [])
    return account_id


async def _reference(app_and_services: tuple[Any, Services], scenario: Scenario) -> dict[str, Any]:
    """The stored rows of the events in their natural order, checked against the expected."""
    services = app_and_services[1]
    events, expected = scenario
    account_id = await _apply(services, events, tuple(range(len(events))), one_per_batch=False)
    async with client(app_and_services, account_id, "viewer") as viewer:
        assert await state(viewer) == expected
    rows = await _rows(services, account_id)
    assert rows["early_run_finishes"] == []
    return rows


def _sample(step: int) -> list[tuple[int, ...]]:
    return [*PERMUTATIONS[::step], PERMUTATIONS[-1]]


async def test_every_order_one_batch(
    app_and_services: tuple[Any, Services], scenario: Scenario
) -> None:
    services = app_and_services[1]
    reference = await _reference(app_and_services, scenario)
    # All 720 on SQLite; a spread-out sample of 60 on PostgreSQL.
    orders = PERMUTATIONS if services.db.is_sqlite else _sample(12)
    for order in orders:
        account_id = await _apply(services, scenario[0], order, one_per_batch=False)
        assert await _rows(services, account_id) == reference, f"order {order}"


async def test_sample_of_orders_one_event_per_batch(
    app_and_services: tuple[Any, Services], scenario: Scenario
) -> None:
    services = app_and_services[1]
    reference = await _reference(app_and_services, scenario)
    for order in _sample(24 if services.db.is_sqlite else 48):
        account_id = await _apply(services, scenario[0], order, one_per_batch=True)
        assert await _rows(services, account_id) == reference, f"order {order}"


async def test_orders_through_http(
    app_and_services: tuple[Any, Services], scenario: Scenario
) -> None:
    events, expected = scenario
    orders = [(5, 4, 3, 2, 1, 0), (3, 5, 0, 4, 2, 1), (1, 4, 5, 2, 0, 3)]
    for order in orders:
        account_id = f"perm-http-{uuid.uuid4().hex[:10]}"
        async with (
            client(app_and_services, account_id, "ingest") as ingester,
            client(app_and_services, account_id, "viewer") as viewer,
        ):
            assert (await send(ingester, _setup()))["accepted"] == 2
            batch = [events[i] for i in order]
            assert await send(ingester, batch) == {"accepted": 6, "duplicates": 0, "rejected": []}
            assert await state(viewer) == expected, f"order {order}"
        # The same order again, one event per request, in a fresh account.
        account_id = f"perm-http-{uuid.uuid4().hex[:10]}"
        async with (
            client(app_and_services, account_id, "ingest") as ingester,
            client(app_and_services, account_id, "viewer") as viewer,
        ):
            await send(ingester, _setup())
            for i in order:
                assert (await send(ingester, [events[i]]))["accepted"] == 1
            assert await state(viewer) == expected, f"order {order}, one per batch"
