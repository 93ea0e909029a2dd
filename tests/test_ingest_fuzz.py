"""Random batches of valid, repeated, contradictory and invalid events: every answer adds up,
uses the codes of the spec, and what is stored stays consistent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.db import tables as t
from gateway.ingest.apply import network_code_of
from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.test_ingest_support import RECENT, send

B = RECENT
SPEC_CODES = {"NOT_FOUND", "BAD_USER_INPUT", "CONFLICT", "INTEGRATION_NOT_RECEIVING"}
MS = timedelta(milliseconds=1)


def _random_event(rng: random.Random) -> dict[str, Any]:
    run = f"r{rng.randrange(5)}"
    step = f"s{rng.randrange(8)}"
    start, end = B + rng.randrange(20), B + rng.randrange(25)
    kind = rng.choice(
        ["run_started", "step_started", "step_finished", "step_finished", "run_finished", "int"]
    )
    if kind == "run_started":
        item = e.run_started(run, rng.choice(["int-1", "int-1", "int-2", "nope"]), start)
    elif kind == "step_started":
        item = e.step_started(step, run, rng.choice([-1, 0, 1, 2, 3]), start)
    elif kind == "step_finished":
        item = e.step_finished(
            step,
            run,
            rng.choice([-1, 0, 1, 2, 3]),
            start,
            end,
            status=rng.choice(["OK", "FAILED", "SKIPPED"]),
            code=rng.choice([None, None, 200, 404, 500, 99]),
        )
        if rng.random() < 0.3:
            del item["stepFinished"]["startTime"]
    elif kind == "run_finished":
        item = e.run_finished(run, rng.choice(["OK", "FAILED", "RUNNING"]), end)
    else:
        item = e.integration(
            rng.choice(["int-1", "int-2"]),
            flow_id=rng.choice(["flow-1", "flow-1", "flow-2"]),
            user_id=rng.choice(["ann", "ann", "bob"]),
        )
    fields = next(iter(item.values()))
    if rng.random() < 0.05:
        time_field = rng.choice([k for k in ("occurredAt", "startTime", "endTime") if k in fields])
        fields[time_field] = "9999-01-01T00:00:00.000Z"
    if rng.random() < 0.1:
        fields["eventId"] = f"dup-{rng.randrange(5)}"
    return item


@pytest.mark.parametrize("seed", range(6))
async def test_random_batches(
    ingester: Api, services: Services, account_id: str, seed: int
) -> None:
    rng = random.Random(seed)
    setup = [e.flow(t=B), e.flow("flow-2", t=B), e.integration("int-1", user_id="ann", t=B + 1)]
    assert (await send(ingester, setup))["accepted"] == 3
    for _ in range(8):
        batch = [_random_event(rng) for _ in range(rng.randrange(1, 40))]
        result = await send(ingester, batch)
        assert result["accepted"] + result["duplicates"] + len(result["rejected"]) == len(batch)
        for r in result["rejected"]:
            assert r["code"] in SPEC_CODES, r
            assert r["message"], r
            assert r["eventId"] == next(iter(batch[r["index"]].values()))["eventId"]
    await _check_stored(services, account_id)


async def _check_stored(services: Services, account_id: str) -> None:
    latest = datetime.now(UTC) + timedelta(hours=1)
    async with services.db.read() as conn:
        runs = [
            dict(r._mapping)
            for r in await conn.execute(select(t.runs).where(t.runs.c.account_id == account_id))
        ]
        steps = [
            dict(r._mapping)
            for r in await conn.execute(select(t.steps).where(t.steps.c.account_id == account_id))
        ]
    for row in [*runs, *steps]:
        start, end = row["start_time"], row["end_time"]
        assert start is None or start <= latest, row
        assert end is None or end <= latest, row
        if start is not None and end is not None:
            assert end >= start, row
            assert row["duration_ms"] == (end - start) // MS, row
    for step in steps:
        assert step["position"] >= 0, step
    for run in runs:
        assert (run["status"] == "RUNNING") == (run["end_time"] is None), run
        own = [s for s in steps if s["run_id"] == run["run_id"]]
        assert (run["network_code"], run["network_code_position"]) == network_code_of(own), run
        assert run["tasks_consumed"] == sum(s["tasks"] for s in own), run
