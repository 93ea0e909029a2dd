"""The outbox and its workers: same transaction as the change, claims that two workers never
share, a lease that resends a claim that never answered, restarts, timeouts, refused
connections, giving up, disabling after five days, pruning."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.db import tables as t
from gateway.db.engine import Database
from gateway.live.changes import Change
from gateway.notifications import outbox, store
from gateway.notifications.transport import PinnedTransport
from gateway.notifications.worker import SCHEDULE, Deliverer
from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.notify_support import (
    Clock,
    Receiver,
    clients,
    configure,
    deliveries,
    failing_run,
    notify_app,
    notify_settings,
    receiver,
)


@pytest.fixture(scope="module")
async def app_services(database_url: str) -> AsyncIterator[tuple[Any, Services]]:
    async with notify_app(notify_settings(database_url)) as pair:
        yield pair


@pytest.fixture
async def api(
    app_services: tuple[Any, Services], account_id: str
) -> AsyncIterator[tuple[Api, Api]]:
    async with clients(app_services, account_id) as pair:
        yield pair


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _worker(services: Services, clock: Clock, db: Database | None = None, **kw: Any) -> Deliverer:
    return Deliverer(
        db or services.db,
        services.links,
        allow_http=True,
        allow_private=True,
        clock=clock,
        jitter=lambda: 1.0,
        **kw,
    )


async def _failures(ingester: Api, integrations: int, runs_each: int = 1) -> None:
    batch = [e.flow()] + [e.integration(f"int-{i}") for i in range(integrations)]
    for i in range(integrations):
        for r in range(runs_each):
            batch += failing_run(f"run-{i}-{r}", f"int-{i}", start=10 + 5 * r)
    result = (await ingester.data(e.INGEST, {"events": batch}))["ingestEvents"]
    assert not result["rejected"]


async def _outbox_rows(db: Database, account_id: str) -> int:
    async with db.read() as conn:
        n = t.notifications
        return int(
            await conn.scalar(
                select(func.count()).select_from(n).where(n.c.account_id == account_id)
            )
            or 0
        )


async def test_outbox_rows_commit_and_roll_back_with_their_change(
    app_services: tuple[Any, Services],
    api: tuple[Api, Api],
    hook: Receiver,
    account_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin, ingester = api
    db = app_services[1].db
    await configure(admin, webhookUrl=hook.url)
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})

    def failed(run_id: str) -> Change:
        return Change(
            account_id,
            "run",
            run_id,
            "FAILED",
            "RUNNING",
            datetime.now(UTC),
            flow_id="flow-1",
            integration_id="int-1",
            run_id=run_id,
        )

    real = outbox.enqueue
    written: list[int] = []

    async def enqueue_then_fail(*args: Any, **kwargs: Any) -> int:
        written.append(await real(*args, **kwargs))
        raise RuntimeError("the commit fails")

    monkeypatch.setattr(outbox, "enqueue", enqueue_then_fail)
    with pytest.raises(RuntimeError):
        async with db.write(account_id) as uow:
            uow.record(failed("run-x"))
    assert written == [1]  # the row was written, in the transaction that rolled back
    assert await _outbox_rows(db, account_id) == 0
    monkeypatch.setattr(outbox, "enqueue", real)
    async with db.write(account_id) as uow:
        uow.record(failed("run-y"))
    assert await _outbox_rows(db, account_id) == 1


async def test_two_workers_never_deliver_one_notification_twice(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 40)
    # Two processes: two engines on the same database, claiming at the same time.
    dbs = [Database.from_url(services.settings.database_url) for _ in range(2)]
    workers = [_worker(services, clock, db) for db in dbs]
    for _ in range(3):
        hook.answer(200, delay=0.05)
    try:
        attempted = [0, 0]
        for _ in range(6):
            counts = await asyncio.gather(*(w.run_once() for w in workers))
            attempted = [a + c for a, c in zip(attempted, counts, strict=True)]
    finally:
        for w, db in zip(workers, dbs, strict=True):
            await w.close()
            await db.dispose()
    ids = Counter(r.headers["webhook-id"] for r in hook.received)
    assert len(ids) == 40
    assert set(ids.values()) == {1}
    assert min(attempted) > 0  # both took a share
    assert all(d["status"] == "DELIVERED" for d in await deliveries(admin, first=100))


async def test_a_claim_that_never_answered_is_resent_once_after_its_lease(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 1)
    dead, alive = _worker(services, clock), _worker(services, clock)
    try:
        token, claimed, endpoints = await dead.claim()  # then the process is killed
        [row] = [r for r in claimed if r.account_id == admin.account_id]
        assert await alive.run_once() == 0  # leased
        clock.advance(61)
        assert await alive.run_once() >= 1
        assert await alive.run_once() == 0
        # The killed worker's late answer is not recorded over the resend.
        await dead.deliver(token, row, endpoints[row.account_id])
    finally:
        await dead.close()
        await alive.close()
    mine = [r for r in hook.received if r.headers["webhook-id"] == row.webhook_id]
    assert len(mine) == 2  # the dead worker's late POST, and the one resend
    [delivery] = await deliveries(admin)
    assert delivery["id"] == row.webhook_id
    assert len(delivery["attempts"]) == 1


async def test_a_round_stopped_with_the_server_hands_its_claim_back_at_once(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 1)
    hook.answer(200, delay=2)  # the receiver is slow to answer the first POST
    stopping, other = _worker(services, clock), _worker(services, clock)
    try:
        # Given a round cut short by the server stopping, while its POST was under way
        round_ = asyncio.ensure_future(stopping.run_once())
        for _ in range(500):
            if hook.received:
                break
            await asyncio.sleep(0.01)
        round_.cancel()
        with pytest.raises(asyncio.CancelledError):
            await round_
        assert await other.run_once() == 0  # still leased
        # When the stopping process hands its claims back, another sends it now (no lease
        # to wait for), with the same webhook-id
        await stopping.release()
        assert await other.run_once() >= 1
    finally:
        await stopping.close()
        await other.close()
    ids = [r.headers["webhook-id"] for r in hook.received]
    assert len(ids) == 2
    assert len(set(ids)) == 1
    [delivery] = await deliveries(admin)
    assert delivery["status"] == "DELIVERED"


async def test_a_stopping_worker_lets_its_round_finish_and_sends_nothing_twice(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 1)
    hook.answer(200, delay=0.5)
    stopping, other = _worker(services, clock), _worker(services, clock)
    try:
        round_ = asyncio.ensure_future(stopping.run_once())
        for _ in range(500):
            if hook.received:
                break
            await asyncio.sleep(0.01)
        # When the server stops: nothing new is claimed, the round under way is recorded
        await stopping.stop_claiming()
        async with asyncio.timeout(10):
            await stopping.settle()
        assert await round_ >= 1
        assert await stopping.run_once() == 0
        await stopping.release()
        # Then nothing is left for another process to send again
        assert await other.run_once() == 0
    finally:
        await stopping.close()
        await other.close()
    assert len(hook.received) == 1
    [delivery] = await deliveries(admin)
    assert delivery["status"] == "DELIVERED"


async def test_a_pending_retry_survives_a_restart(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 1)
    hook.answer(500)
    before = _worker(services, clock)
    await before.run_once()
    await before.close()
    db = Database.from_url(services.settings.database_url)
    after = _worker(services, clock, db)
    try:
        clock.advance(SCHEDULE[0])
        await after.run_once()
    finally:
        await after.close()
        await db.dispose()
    first, resent = hook.received
    assert first.headers["webhook-id"] == resent.headers["webhook-id"]
    [delivery] = await deliveries(admin)
    assert [a["responseCode"] for a in delivery["attempts"]] == [500, 200]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_timeouts_and_refused_connections_are_failed_attempts(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 1)
    hook.answer(200, delay=1.0)
    worker = _worker(services, clock, total_timeout=0.2)
    try:
        await worker.run_once()
        await configure(admin, webhookUrl=f"http://127.0.0.1:{_closed_port()}/hook")
        clock.advance(SCHEDULE[0])
        await worker.run_once()
    finally:
        await worker.close()
    [delivery] = await deliveries(admin)
    first, second = delivery["attempts"]
    assert first["responseCode"] is None
    assert "no answer" in first["error"] or "timed out" in first["error"]
    assert second["responseCode"] is None
    assert second["error"]
    assert delivery["status"] == "PENDING"


async def test_gives_up_after_the_schedule_and_disables_after_five_days(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 1)
    for _ in range(len(SCHEDULE) + 1):
        hook.answer(500)
    worker = _worker(services, clock)
    try:
        await worker.run_once()
        for delay in SCHEDULE:
            clock.advance(delay)
            await worker.run_once()
        [delivery] = await deliveries(admin)
        assert delivery["status"] == "FAILED"
        assert len(delivery["attempts"]) == len(SCHEDULE) + 1
        view = await admin.data("{ viewer { errorNotifications { enabled failingSince } } }")
        assert view["viewer"]["errorNotifications"]["enabled"] is True
        assert view["viewer"]["errorNotifications"]["failingSince"] is not None
        # Failing since five days: the next failure disables the endpoint.
        async with services.db.transaction() as conn:
            await store.update_endpoint(
                conn, admin.account_id, failing_since=clock.now - timedelta(days=5)
            )
        await ingester.data(e.INGEST, {"events": failing_run("run-late", "int-0", start=900)})
        hook.answer(500)
        clock.advance(3600)
        await worker.run_once()
    finally:
        await worker.close()
    view = await admin.data("{ viewer { errorNotifications { enabled disabledReason } } }")
    assert view["viewer"]["errorNotifications"] == {"enabled": False, "disabledReason": "FAILING"}
    # Given-up notifications go after the retention too, with their attempts
    pruner = _worker(services, clock, retention_days=7)
    try:
        clock.advance(8 * 86400)
        assert await pruner.prune() >= 1
    finally:
        await pruner.close()
    assert "FAILED" not in {d["status"] for d in await deliveries(admin, first=100)}


async def test_delivered_notifications_are_pruned_after_the_retention(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 2)
    hook.answer(500)
    worker = _worker(services, clock, retention_days=7)
    try:
        await worker.run_once()  # one delivered, one to retry
        assert await worker.prune() == 0
        clock.advance(8 * 86400)
        assert await worker.prune() >= 1
    finally:
        await worker.close()
    left = await deliveries(admin)
    assert [d["status"] for d in left] == ["PENDING"]


async def test_an_address_refused_at_connect_time_is_a_recorded_delivery_error(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 1)

    async def rebound(host: str, port: int) -> list[Any]:  # the name now points inside
        return [ipaddress.ip_address("10.0.0.5")]

    worker = _worker(services, clock, transport=PinnedTransport(resolver=rebound))
    try:
        await worker.run_once()
    finally:
        await worker.close()
    assert hook.received == []
    [delivery] = await deliveries(admin)
    assert delivery["status"] == "PENDING"
    assert "private" in delivery["attempts"][0]["error"]


async def test_attempts_and_the_outbox_depth_are_counted_for_the_metrics(
    app_services: tuple[Any, Services], api: tuple[Api, Api], hook: Receiver, clock: Clock
) -> None:
    admin, ingester = api
    services = app_services[1]
    await configure(admin, webhookUrl=hook.url)
    await _failures(ingester, 2)
    worker, results = _worker(services, clock), []
    worker.on_attempt = results.append
    try:
        async with services.db.read() as conn:
            waiting, oldest = await store.pending(conn)
        assert waiting >= 2
        assert oldest is not None
        hook.answer(500)
        while await worker.run_once():
            pass
        # One attempt answered 500, the others delivered; the failed one waits for its retry
        assert results.count("failed") == 1
        assert results.count("delivered") == len(results) - 1 >= 1
        async with services.db.read() as conn:
            assert (await store.pending(conn))[0] == waiting - results.count("delivered")
    finally:
        await worker.close()
