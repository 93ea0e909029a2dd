"""The in-process broker offers a change to its account's whole-account subscribers and to
those following the change's flow, integration or run, nobody else; in order, without gap or
duplicate, repairing gaps from the change log once for all of them."""

from __future__ import annotations

import asyncio

import pytest

from gateway.live.broker import MemoryBroker, SubscriberTooSlow, Subscription
from gateway.live.changes import Change
from tests import events as e


def run_change(account: str, run: str, integration: str, flow: str) -> Change:
    return Change(
        account,
        "run",
        run,
        "OK",
        "RUNNING",
        e.T0,
        flow_id=flow,
        integration_id=integration,
        run_id=run,
    )


def queued(subscription: Subscription) -> list[str]:
    return [change.object_id for change in subscription.ready()]


async def test_changes_reach_only_the_followers_of_their_objects() -> None:
    broker = MemoryBroker()
    everything = broker.subscribe("a")
    flow = broker.subscribe("a", ("flow", "f1"))
    integration = broker.subscribe("a", ("integration", "i1"))
    other_integration = broker.subscribe("a", ("integration", "i2"))
    run = broker.subscribe("a", ("run", "r1"))
    other_account = broker.subscribe("b")
    await broker.publish([run_change("a", "r1", "i1", "f1"), run_change("a", "r2", "i2", "f2")])
    assert queued(everything) == ["r1", "r2"]
    assert queued(flow) == ["r1"]
    assert queued(integration) == ["r1"]
    assert queued(other_integration) == ["r2"]
    assert queued(run) == ["r1"]
    assert queued(other_account) == []


async def test_closing_removes_every_index_entry() -> None:
    broker = MemoryBroker()
    subscriptions = [broker.subscribe("a", ("integration", f"i{n}")) for n in range(1000)]
    subscriptions.append(broker.subscribe("a"))
    assert broker.subscriber_count() == 1001
    for subscription in subscriptions:
        subscription.close()
    assert broker.subscriber_count() == 0
    assert broker._topics == {}
    assert broker._subscribers == {}


def test_unknown_topic_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="topic"):
        MemoryBroker().subscribe("a", ("step", "s1"))


# --- in order, without gap, per account -------------------------------------------------


def numbered(seq: int, integration: str = "i1", account: str = "a") -> Change:
    return run_change(account, f"r{seq}", integration, "f1").with_seq(seq)


class ChangeLog:
    """A stand-in change log for the broker's backfill: counts its reads."""

    def __init__(self, changes: list[Change], fail: bool = False) -> None:
        self.changes, self.fail, self.reads = changes, fail, 0

    async def __call__(self, account_id: str, low: int, high: int) -> list[Change]:
        self.reads += 1
        if self.fail:
            raise ConnectionError("database unreachable")
        return [
            c
            for c in self.changes
            if c.account_id == account_id and c.seq is not None and low < c.seq < high
        ]


async def settle(broker: MemoryBroker) -> None:
    """Waits for the broker's gap repairs (their grace period, then the read) to finish."""
    repairs = [o.filling for o in broker._order.values() if o.filling is not None]
    if repairs:
        await asyncio.wait(repairs)


async def test_changes_arriving_out_of_order_are_passed_on_in_order_without_a_read() -> None:
    log = ChangeLog([])
    broker = MemoryBroker(backfill=log)
    subscription = broker.subscribe("a", ("integration", "i1"), since=10)
    # Given seq 12 published before 11 (two commits' publishes overtaking each other)
    await broker.publish([numbered(12)])
    await broker.publish([numbered(11), numbered(11)])
    await settle(broker)
    # Then the subscriber gets 11 then 12, once each, and the change log was not read
    assert queued(subscription) == ["r11", "r12"]
    assert log.reads == 0


async def test_a_missing_change_is_read_from_the_change_log_once_for_every_subscriber() -> None:
    log = ChangeLog([numbered(11), numbered(12, "i2")])
    broker = MemoryBroker(backfill=log)
    followers = [broker.subscribe("a", ("integration", "i1"), since=10) for _ in range(100)]
    others = broker.subscribe("a", ("integration", "i2"), since=10)
    everything = broker.subscribe("a", since=10)
    # Given 11 and 12 never published to this process (another process, a lost message)
    await broker.publish([numbered(13)])
    await settle(broker)
    # Then one read repairs the order for all of them
    assert log.reads == 1
    assert all(queued(f) == ["r11", "r13"] for f in followers)
    assert queued(others) == ["r12"]
    assert queued(everything) == ["r11", "r12", "r13"]
    # And what was passed on already is not passed on again
    await broker.publish([numbered(12, "i2"), numbered(14)])
    assert queued(everything) == ["r14"]


async def test_subscribers_that_cannot_be_repaired_are_told_to_resume() -> None:
    for log in (ChangeLog([], fail=True), ChangeLog([numbered(12)])):  # down, or 11 missing
        broker = MemoryBroker(backfill=log)
        subscription = broker.subscribe("a", since=10)
        await broker.publish([numbered(13)])
        await settle(broker)
        with pytest.raises(SubscriberTooSlow, match="resume with after"):
            await anext(subscription)
        assert broker.subscriber_count() == 0


async def test_an_account_whose_last_subscriber_left_keeps_no_order_state() -> None:
    broker = MemoryBroker(backfill=ChangeLog([]))
    subscription = broker.subscribe("a", since=10)
    await broker.publish([numbered(13)])  # a gap being repaired
    repair = broker._order["a"].filling
    assert repair is not None
    subscription.close()
    await asyncio.wait([repair])
    assert repair.cancelled()
    assert broker._order == {}


async def test_a_gap_wider_than_a_queue_or_too_much_held_ends_the_subscriptions() -> None:
    # A gap wider than a queue is not read at all
    log = ChangeLog([numbered(n) for n in range(11, 30)])
    broker = MemoryBroker(queue_size=8, backfill=log)
    wide = broker.subscribe("a", since=10)
    await broker.publish([numbered(30)])
    await settle(broker)
    with pytest.raises(SubscriberTooSlow):
        await anext(wide)
    assert log.reads == 0
    # Nor are more changes held than a queue holds while a gap is repaired
    broker = MemoryBroker(queue_size=8, backfill=ChangeLog([]))
    held = broker.subscribe("a", since=10)
    await broker.publish([numbered(n) for n in range(12, 30)])
    with pytest.raises(SubscriberTooSlow):
        await anext(held)
    assert broker._order == {}


async def test_a_first_subscriber_starts_after_what_the_process_saw_of_its_account() -> None:
    log = ChangeLog([])
    broker = MemoryBroker(backfill=log)
    # Changes seen while the account had no subscriber here (read from the log by streams)
    await broker.publish([numbered(11), numbered(12)])
    subscription = broker.subscribe("a", since=10)
    await broker.publish([numbered(13)])
    assert queued(subscription) == ["r13"]
    assert log.reads == 0


async def test_a_subscriber_of_one_kind_queues_only_that_kind() -> None:
    broker = MemoryBroker(queue_size=3)
    runs = broker.subscribe("a", kind="run")
    step = Change("a", "step", "s1", "OK", "RUNNING", e.T0, run_id="r1")
    # Given many step changes, more than a queue holds
    await broker.publish([step] * 10 + [run_change("a", "r1", "i1", "f1")])
    # Then the runs' subscriber was offered none of them, and is not too slow
    assert queued(runs) == ["r1"]
    assert not runs.dropped
