"""The in-process broker offers a change to its account's whole-account subscribers and to
those following the change's flow, integration or run, nobody else."""

from __future__ import annotations

import pytest

from gateway.live.broker import MemoryBroker, Subscription
from gateway.live.changes import Change
from tests import events as e


def run_change(account: str, run: str, integration: str, flow: str) -> Change:
    return Change(
        account, "run", run, "OK", "RUNNING", e.T0,
        flow_id=flow, integration_id=integration, run_id=run,
    )


def queued(subscription: Subscription) -> list[str]:
    items = []
    while not subscription._queue.empty():
        item = subscription._queue.get_nowait()
        assert item is not None
        items.append(item.object_id)
    return items


async def test_changes_reach_only_the_followers_of_their_objects() -> None:
    broker = MemoryBroker()
    everything = broker.subscribe("a")
    flow = broker.subscribe("a", ("flow", "f1"))
    integration = broker.subscribe("a", ("integration", "i1"))
    other_integration = broker.subscribe("a", ("integration", "i2"))
    run = broker.subscribe("a", ("run", "r1"))
    other_account = broker.subscribe("b")
    await broker.publish(
        [run_change("a", "r1", "i1", "f1"), run_change("a", "r2", "i2", "f2")]
    )
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
