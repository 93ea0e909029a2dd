"""What bounds one request's cost: payload bodies in the node count, the response size, the
query deadline and the statement timeout, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from graphql import GraphQLError
from sqlalchemy import text

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db.engine import NO_TIME_LIMIT, Database, is_statement_timeout
from gateway.http.errors import coded
from gateway.services import Services
from tests import events as e
from tests.conftest import Api

BODY = "x" * 200_000


def big_payload() -> dict[str, Any]:
    return {
        "request": {"method": "GET", "url": "https://api.test/items", "headers": []},
        "response": {"statusCode": 200, "headers": [], "body": BODY},
    }


@asynccontextmanager
async def client_with(
    settings: Settings, services: Services, account_id: str, role: str, **overrides: Any
) -> AsyncIterator[Api]:
    app = create_app(settings.model_copy(update=overrides))
    key = await create_key(services.db, account_id, role)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {key}"},
        ) as http:
            yield Api(http, account_id)
    finally:
        await app.state.services.close()


# The query that answered 32 MB in 6.7 s: 30 aliases x 100 runs x 15 steps x payloads.
def wide_query(with_payloads: bool) -> str:
    payload = (
        "payload { request { method url headers { name value } body bodyJson }"
        " response { statusCode bodyRaw bodyJson } objects { key value } }"
        if with_payloads
        else ""
    )
    runs = (
        "runs(first: 100, orderBy: {field: DURATION, direction: DESC}) { nodes { runId"
        f" steps(first: 15) {{ nodes {{ stepId {payload} }} }} }} }}"
    )
    return "{ " + " ".join(f"a{i}: {runs}" for i in range(30)) + " }"


async def test_payload_bodies_count_in_the_node_cost(viewer: Api) -> None:
    refused = await viewer.raw(wide_query(with_payloads=True))
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "exceeds the limit of 50000" in error["message"]
    # Without the bodies the same shape is within the limits (48,000 nodes).
    assert "errors" not in await viewer.raw(wide_query(with_payloads=False))


async def test_a_response_over_the_size_limit_is_refused(
    settings: Settings, services: Services, account_id: str, ingester: Api
) -> None:
    batch = [
        e.flow(),
        e.integration("int-1"),
        e.run_started("run-1", "int-1", 10),
        e.step_finished("s1", "run-1", 1, 11, 12, payload=big_payload()),
        e.run_finished("run-1", "OK", 13),
    ]
    await ingester.data(e.INGEST, {"events": batch})
    query = '{ step(stepId: "s1") { payload { response { bodyRaw } } } }'
    async with client_with(
        settings, services, account_id, "admin", max_response_bytes=100_000
    ) as small:
        response = await small.post(query)
        assert response.status_code == 200
        body = response.json()
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"] == {"code": "RESPONSE_TOO_LARGE"}
        assert "more than the limit of 100000" in error["message"]
        # smaller answers pass
        assert await small.data('{ step(stepId: "s1") { stepId } }') == {"step": {"stepId": "s1"}}
        # a mutation's answer says that its changes were applied
        mutation = 'mutation { disableIntegration(integrationId: "int-1") { status } }'
        assert (await small.data(mutation))["disableIntegration"]["status"] == "DISABLED"
    async with client_with(settings, services, account_id, "admin") as default:
        size = len((await default.post(query)).content)
        assert size > 200_000  # the default limit (16 MiB) lets it through


async def test_a_query_past_its_deadline_is_a_timeout(
    settings: Settings, services: Services, account_id: str
) -> None:
    async with client_with(
        settings, services, account_id, "admin", request_timeout_seconds=1e-6
    ) as hasty:
        response = await hasty.post("{ flows { totalCount } }")
        assert response.status_code == 504
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "TIMEOUT"}
        assert "longer than 1e-06 s" in error["message"]
        # mutations are not cut off halfway
        result = await hasty.data("mutation { setAccountSettings(autoPauseAfterFailures: 3) "
                                  "{ autoPauseAfterFailures } }")
        assert result == {"setAccountSettings": {"autoPauseAfterFailures": 3}}


def _slow_statement(db: Database) -> str:
    if db.is_sqlite:
        return (
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1000000000)"
            " SELECT count(*) FROM r"
        )
    return "SELECT pg_sleep(5)"


async def test_a_statement_past_its_timeout_is_stopped(database_url: str) -> None:
    db = Database.from_url(database_url, statement_timeout=0.2)
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the driver's own error type
            async with db.read() as conn:
                await conn.execute(text(_slow_statement(db)))
        assert is_statement_timeout(caught.value)
        # the error reaches a client as TIMEOUT, not INTERNAL
        error = coded(GraphQLError("x", path=["flows"], original_error=caught.value), "r1")
        assert error.extensions == {"code": "TIMEOUT"}
        # the connection is usable afterwards, and quick statements are unaffected
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        # Statements marked NO_TIME_LIMIT (ANALYZE after a bulk load) run past it.
        async with db.read() as conn:
            await conn.execution_options(**{NO_TIME_LIMIT: True})
            if db.is_sqlite:
                count = (
                    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r"
                    " WHERE i < 3000000) SELECT count(*) FROM r"
                )
                assert (await conn.execute(text(count))).scalar() == 3_000_000
        await db.analyze()
        if not db.is_sqlite:  # analyze lifts the limit for its own statement only
            async with db.read() as conn:
                shown = (await conn.execute(text("SHOW statement_timeout"))).scalar()
                assert shown == "200ms"
    finally:
        await db.dispose()


async def test_the_service_sets_the_statement_timeout(services: Services) -> None:
    assert services.settings.statement_timeout_seconds == 10.0
    async with services.db.read() as conn:
        if services.db.is_sqlite:
            assert conn.info.get("gateway_deadline") is not None
        else:
            timeout = (await conn.execute(text("SHOW statement_timeout"))).scalar()
            assert timeout == "10s"


async def test_bodies_stop_counting_at_the_limit_while_resolving(
    settings: Settings,
    services: Services,
    account_id: str,
    ingester: Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 20 steps with 50 KB bodies each way; 10 aliases would build 20 MB of bodies.
    body = "y" * 50_000
    payload = {
        "request": {"method": "POST", "url": "https://api.test/x", "headers": [], "body": body},
        "response": {"statusCode": 200, "headers": [], "body": body},
    }
    batch = [e.flow(), e.integration("int-1"), e.run_started("run-1", "int-1", 10)]
    batch += [
        e.step_finished(f"s{n}", "run-1", n, 11, 12, payload=payload) for n in range(20)
    ]
    await ingester.data(e.INGEST, {"events": batch})
    steps = (
        'run(runId: "run-1") { steps(first: 20) { nodes { payload {'
        " request { body } response { bodyRaw bodyJson } } } } }"
    )
    query = "{ " + " ".join(f"a{i}: {steps}" for i in range(10)) + " }"

    from gateway.context import ResponseBudget

    counted: list[int] = []
    take = ResponseBudget.take

    def counting(self: ResponseBudget, size: int) -> bool:
        fits = take(self, size)
        if fits:
            counted.append(size)
        return fits

    monkeypatch.setattr(ResponseBudget, "take", counting)
    async with client_with(
        settings, services, account_id, "viewer", max_response_bytes=1_000_000
    ) as small:
        body_out = (await small.post(query)).json()
    assert body_out["data"] is None
    assert body_out["errors"][0]["extensions"] == {"code": "RESPONSE_TOO_LARGE"}
    # At most the limit's worth of bodies was put together, not 20 MB.
    assert sum(counted) <= 1_000_000
    assert len(counted) == 1_000_000 // 50_000


async def test_json_nested_deeper_than_an_answer_can_carry_is_null(
    ingester: Api, viewer: Api
) -> None:
    deep = "[" * 500 + "]" * 500
    payload = {
        "request": {"method": "GET", "url": "https://api.test/x", "headers": []},
        "response": {"statusCode": 200, "headers": [], "body": deep},
    }
    shallow = "[" * 100 + "]" * 100
    other = {
        "request": {"method": "GET", "url": "https://api.test/x", "headers": []},
        "response": {"statusCode": 200, "headers": [], "body": shallow},
    }
    batch = [
        e.flow(),
        e.integration("int-1"),
        e.run_started("run-1", "int-1", 10),
        e.step_finished("s1", "run-1", 1, 11, 12, payload=payload),
        e.step_finished("s2", "run-1", 2, 12, 13, payload=other),
    ]
    await ingester.data(e.INGEST, {"events": batch})
    query = '{ step(stepId: "%s") { payload { response { bodyRaw bodyJson } } } }'
    data = await viewer.data(query % "s1")
    assert data["step"]["payload"]["response"] == {"bodyRaw": deep, "bodyJson": None}
    data = await viewer.data(query % "s2")
    nested = data["step"]["payload"]["response"]["bodyJson"]
    for _ in range(99):
        nested = nested[0]
    assert nested == []


async def test_a_write_waits_for_its_account_longer_than_a_statement_may_run(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from gateway.db import engine as engine_module

    db = Database.from_url(database_url, statement_timeout=0.3)
    if db.is_sqlite:
        await db.dispose()
        pytest.skip("SQLite has one writer at a time; its busy_timeout does the waiting")
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with db.transaction("busy-account"):
            held.set()
            await release.wait()

    try:
        task = asyncio.create_task(holder())
        await held.wait()
        waiter = asyncio.create_task(_write_once(db))
        await asyncio.sleep(1.0)  # three statement timeouts
        assert not waiter.done()
        release.set()
        await waiter  # it got the lock once the holder committed
        await task
        # A wait past LOCK_WAIT_SECONDS gives up without changing anything.
        monkeypatch.setattr(engine_module, "LOCK_WAIT_SECONDS", 0.2)
        release.clear()
        held.clear()
        task = asyncio.create_task(holder())
        await held.wait()
        with pytest.raises(engine_module.AccountBusy):
            await _write_once(db)
        error = coded(
            GraphQLError("x", path=["ingestEvents"], original_error=engine_module.AccountBusy()),
            "r1",
        )
        assert error.extensions == {"code": "SERVICE_UNAVAILABLE"}
        release.set()
        await task
    finally:
        await db.dispose()


async def _write_once(db: Database) -> None:
    async with db.transaction("busy-account") as conn:
        await conn.execute(text("SELECT 1"))


def test_an_exhausted_connection_pool_is_service_unavailable() -> None:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    exhausted = PoolTimeout("QueuePool limit of size 5 overflow 10 reached")
    error = coded(GraphQLError("x", path=["runStatusChanged"], original_error=exhausted), "r1")
    assert error.extensions == {"code": "SERVICE_UNAVAILABLE"}
    assert "QueuePool" not in error.message
