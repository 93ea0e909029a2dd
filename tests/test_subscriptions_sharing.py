"""Subscribers alike (document, operation, variables, role) share one execution of each event;
subscribers that differ in any of these do not; each gets its own copy of the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.auth.keys import create_key
from gateway.context import Context, make_context
from gateway.live import sharing
from gateway.schema import schema
from gateway.services import Services
from tests import events as e
from tests.conftest import Api

RUNS = """subscription Runs($status: [RunStatus!]) {
  runStatusChanged(status: $status) { cursor status run { runId integration { integrationId } } }
}"""


async def context(services: Services, account_id: str, role: str) -> Context:
    authorization = f"Bearer {await create_key(services.db, account_id, role)}"
    principal = await services.authenticator.principal(authorization)
    return make_context(services, principal, "test", authorization)


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The shared executions that ran: the event each answered and whose context ran it."""
    ran: list[Any] = []
    execute = sharing.SharedEventExecutor._execute

    async def counted(self: sharing.SharedEventExecutor, serially: bool | None) -> Any:
        ran.append((self.root_value.share, self.context_value))
        return await execute(self, serially)

    monkeypatch.setattr(sharing.SharedEventExecutor, "_execute", counted)
    return ran


class Subscriber:
    """One operation through the schema, as the WebSocket handler runs it: its stream opens
    when its first event is asked for, so ``open()`` asks and waits until it is subscribed."""

    def __init__(self, ctx: Context, variables: dict[str, Any] | None = None) -> None:
        self.ctx, self.variables = ctx, variables
        self.stream: AsyncIterator[Any] | None = None
        self.next: asyncio.Future[Any] | None = None

    async def open(self, services: Services) -> Subscriber:
        before = services.broker.subscriber_count()  # type: ignore[attr-defined]
        stream = await schema.subscribe(
            RUNS, variable_values=self.variables, context_value=self.ctx
        )
        assert not hasattr(stream, "errors"), stream
        self.stream = stream
        self.next = asyncio.ensure_future(anext(stream))
        for _ in range(5_000):  # at most 5 s
            if services.broker.subscriber_count() > before:  # type: ignore[attr-defined]
                return self
            await asyncio.sleep(0.001)
        raise AssertionError("the subscription did not open")

    async def answers(self, n: int) -> list[Any]:
        assert self.stream is not None
        assert self.next is not None
        async with asyncio.timeout(10):
            got = [await self.next]
            got += [await anext(self.stream) for _ in range(n - 1)]
        return got

    async def close(self) -> None:
        if self.next is not None and not self.next.done():
            self.next.cancel()
        if self.stream is not None:
            await self.stream.aclose()  # type: ignore[attr-defined]


async def subscriber(
    services: Services, account_id: str, role: str, variables: dict[str, Any] | None = None
) -> Subscriber:
    return await Subscriber(await context(services, account_id, role), variables).open(services)


async def test_alike_subscribers_share_one_execution_per_event(
    services: Services, ingester: Api, account_id: str, executions: list[Any]
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    viewers = [await subscriber(services, account_id, "viewer") for _ in range(10)]
    admin = await subscriber(services, account_id, "admin")
    only_ok = await subscriber(services, account_id, "viewer", {"status": ["OK"]})
    try:
        batch = [e.run_started("run-1", "int-1", 10), e.run_finished("run-1", "OK", 11)]
        await ingester.data(e.INGEST, {"events": batch})
        answers = [await s.answers(2) for s in (*viewers, admin)]
        [ok] = await only_ok.answers(1)
        # Every subscriber gets the same answers, each its own result object
        data = [[a.data for a in pair] for pair in answers]
        assert all(d == data[0] for d in data)
        assert [d["runStatusChanged"]["status"] for d in data[0]] == ["RUNNING", "OK"]
        assert data[0][1]["runStatusChanged"]["run"] == {
            "runId": "run-1",
            "integration": {"integrationId": "int-1"},
        }
        assert ok.data == data[0][1]
        assert len({id(pair[0]) for pair in answers}) == len(answers)
        # Ten viewers: one execution per change; the admin (another role) and the viewer
        # with other variables their own
        assert len(executions) == 2 + 2 + 1
        assert len({share for share, _ in executions}) == 2
    finally:
        for each in (*viewers, admin, only_ok):
            await each.close()


async def test_a_subscriber_that_goes_away_does_not_cancel_the_others_answer(
    services: Services, ingester: Api, account_id: str, executions: list[Any]
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    first = await subscriber(services, account_id, "viewer")
    second = await subscriber(services, account_id, "viewer")
    try:
        await ingester.data(e.INGEST, {"events": [e.run_started("run-1", "int-1", 10)]})
        for _ in range(5_000):  # until the first execution has started
            if executions:
                break
            await asyncio.sleep(0.001)
        # The subscriber whose execution it is goes away
        [(_, running)] = executions
        leaving, staying = (first, second) if running is first.ctx else (second, first)
        assert running is leaving.ctx
        assert leaving.next is not None
        leaving.next.cancel()
        [answer] = await staying.answers(1)
        assert answer.errors is None
        assert answer.data["runStatusChanged"]["run"]["runId"] == "run-1"
        assert len(executions) == 1
    finally:
        await first.close()
        await second.close()
