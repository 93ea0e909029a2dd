"""One exit for committed changes: every write path records typed changes in its unit of work;
they are numbered into the change log in the transaction and published only after commit."""

from __future__ import annotations

import asyncio

import pytest

from gateway.db import changelog
from gateway.live.broker import Subscription
from gateway.live.changes import Change
from gateway.services import Services
from tests import events as e
from tests.conftest import Api


def drain(subscription: Subscription) -> list[Change]:
    return subscription.ready()


def shape(changes: list[Change]) -> list[tuple[str, str, str | None, str]]:
    return [(c.kind, c.object_id, c.previous, c.status) for c in changes]


async def test_ingest_publishes_its_changes_after_commit(
    services: Services, ingester: Api, account_id: str
) -> None:
    async with services.broker.subscribe(account_id) as subscription:
        batch = [
            e.flow(),
            e.integration("int-1"),
            e.run_started("run-1", "int-1", 10),
            e.step_finished("s1", "run-1", 1, 11, 12, status="FAILED", code=500),
            e.run_finished("run-1", "FAILED", 13),
        ]
        await ingester.data(e.INGEST, {"events": batch})
        received = drain(subscription)
    assert shape(received) == [
        ("integration", "int-1", None, "ENABLED"),  # created
        ("run", "run-1", None, "RUNNING"),
        ("step", "s1", None, "FAILED"),
        ("run", "run-1", "RUNNING", "FAILED"),
    ]
    assert all(c.account_id == account_id for c in received)
    assert received[1].flow_id == "flow-1"
    assert received[2].run_id == "run-1"
    assert received[3].integration_id == "int-1"
    seqs = [c.seq for c in received]
    assert seqs == [1, 2, 3, 4]  # numbered, in commit order
    async with services.db.read() as conn:
        stored = await changelog.after(conn, account_id, 0, 100)
    assert stored == received


async def test_admin_actions_and_auto_pause_record_integration_changes(
    services: Services, ingester: Api, admin: Api, account_id: str
) -> None:
    await admin.data("mutation { setAccountSettings(autoPauseAfterFailures: 1) { accountId } }")
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    async with services.broker.subscribe(account_id) as subscription:
        await admin.data('mutation { disableIntegration(integrationId: "int-1") { status } }')
        await admin.data('mutation { enableIntegration(integrationId: "int-1") { status } }')
        batch = [e.run_started("run-1", "int-1", 10), e.run_finished("run-1", "FAILED", 13)]
        await ingester.data(e.INGEST, {"events": batch})
        received = drain(subscription)
    integration = [(c.previous, c.status, c.reason) for c in received if c.kind == "integration"]
    assert integration == [
        ("ENABLED", "DISABLED", None),
        ("DISABLED", "ENABLED", None),
        ("ENABLED", "PAUSED", "TOO_MANY_ERRORS"),
    ]


async def test_a_rolled_back_write_publishes_and_logs_nothing(
    services: Services, account_id: str
) -> None:
    change = Change(account_id, "run", "run-x", "OK", "RUNNING", e.T0)
    async with services.broker.subscribe(account_id) as subscription:
        async def fail() -> None:
            async with services.db.write(account_id) as uow:
                uow.record(change)
                raise RuntimeError("the transaction fails")

        with pytest.raises(RuntimeError):
            await fail()
        assert drain(subscription) == []
        async with services.db.read() as conn:
            assert await changelog.after(conn, account_id, 0, 10) == []
        # the same change, committed, is published with its number
        async with services.db.write(account_id) as uow:
            uow.record(change)
        [published] = drain(subscription)
    assert published == change.with_seq(1)


async def test_changes_are_numbered_per_account(services: Services, account_id: str) -> None:
    other = f"{account_id}-other"
    for account in (account_id, other, account_id):
        async with services.db.write(account) as uow:
            uow.record(Change(account, "run", "r", "OK", None, e.T0))
    async with services.db.read() as conn:
        assert [c.seq for c in await changelog.after(conn, account_id, 0, 10)] == [1, 2]
        assert [c.seq for c in await changelog.after(conn, other, 0, 10)] == [1]
        assert [c.seq for c in await changelog.after(conn, account_id, 1, 10)] == [2]


async def test_a_unit_of_work_refuses_another_accounts_change(
    services: Services, account_id: str
) -> None:
    with pytest.raises(ValueError, match="another"):
        async with services.db.write(account_id) as uow:
            uow.record(Change("another", "run", "r", "OK", None, e.T0))


async def test_concurrent_writers_get_distinct_ordered_numbers(
    services: Services, account_id: str
) -> None:
    async def write(i: int) -> None:
        async with services.db.write(account_id) as uow:
            uow.record(Change(account_id, "run", f"r{i}", "OK", None, e.T0))

    await asyncio.gather(*(write(i) for i in range(20)))
    async with services.db.read() as conn:
        stored = await changelog.after(conn, account_id, 0, 100)
    assert [c.seq for c in stored] == list(range(1, 21))
    assert sorted(c.object_id for c in stored) == sorted(f"r{i}" for i in range(20))
