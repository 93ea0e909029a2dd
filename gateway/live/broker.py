"""The broker: committed changes to the subscribers of their account, in this process.

``publish`` is called once per committed unit of work with its changes (in ``seq`` order).
Each subscriber has a bounded queue: one that does not keep up is dropped (its iterator raises
``SubscriberTooSlow``) instead of growing memory or delaying the others. Delivery is a hint:
a subscriber that reconnects replays what it missed from the change log.

``MemoryBroker`` serves one process. ``RedisBroker`` (``redis_broker.py``) carries the same
messages between processes and fans them out locally with a ``MemoryBroker``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from gateway.live.changes import Change

DEFAULT_QUEUE_SIZE = 1_000


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed: it was dropped and must resume with ``after:``."""


class Broker(Protocol):
    async def publish(self, changes: Iterable[Change]) -> None: ...

    def subscribe(self, account_id: str, topic: Topic | None = None) -> Subscription: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def subscriber_count(self) -> int: ...

    async def ping(self) -> None:
        """Raises if the broker cannot carry messages (``/readyz``)."""


# What a subscriber follows within its account: ("flow" | "integration" | "run", ID); None
# for every change of the account. The broker only offers it the changes of that object.
Topic = tuple[str, str]
_TOPIC_KINDS = ("flow", "integration", "run")


class Subscription:
    """One subscriber's bounded queue of its account's changes; use as an async iterator and
    ``close()`` (or ``async with``) when done."""

    def __init__(
        self, broker: MemoryBroker, account_id: str, size: int, topic: Topic | None = None
    ) -> None:
        self._broker = broker
        self.account_id = account_id
        self.topic = topic
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue(size)
        self.dropped = False
        self._closed = False
        self._error: SubscriberTooSlow | None = None

    def offer(self, change: Change) -> None:
        if self.dropped:
            return
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            self.drop(
                SubscriberTooSlow(
                    "Events arrived faster than this subscription read them; resume with after:"
                    " the last cursor received."
                )
            )

    def drop(self, error: SubscriberTooSlow) -> None:
        """End this subscription: its iterator yields what is queued, then raises ``error``."""
        if self.dropped or self._closed:
            return
        self.dropped = True
        self._error = error
        self._broker.remove(self)
        self._end()

    def _end(self) -> None:
        # The reader stops at the marker: make room for it in a full queue, or a reader that
        # drains it would then wait forever.
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Change]:
        return self

    async def __anext__(self) -> Change:
        change = await self._queue.get()
        if change is None:
            # Keep the marker: every later call ends the same way instead of waiting forever.
            self._queue.put_nowait(None)
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return change

    def close(self) -> None:
        self._broker.remove(self)
        if not self.dropped and not self._closed:
            self._closed = True
            self._end()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()


class MemoryBroker:
    """In-process fan-out by account and topic: a change is offered to the account's
    whole-account subscribers and to those following its flow, integration or run, so ten
    thousand subscribers of one account cost a change only the few that follow its objects."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        # (account, topic kind or "", topic ID or "") -> subscribers
        self._topics: dict[tuple[str, str, str], set[Subscription]] = defaultdict(set)

    def subscribe(self, account_id: str, topic: Topic | None = None) -> Subscription:
        if topic is not None and topic[0] not in _TOPIC_KINDS:
            raise ValueError(f"unknown topic kind {topic[0]!r}")
        subscription = Subscription(self, account_id, self.queue_size, topic)
        self._subscribers[account_id].add(subscription)
        self._topics[self._key(subscription)].add(subscription)
        return subscription

    @staticmethod
    def _key(subscription: Subscription) -> tuple[str, str, str]:
        kind, object_id = subscription.topic or ("", "")
        return (subscription.account_id, kind, object_id)

    def remove(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.account_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.account_id]
        key = self._key(subscription)
        followers = self._topics.get(key)
        if followers is not None:
            followers.discard(subscription)
            if not followers:
                del self._topics[key]

    def deliver(self, changes: Iterable[Change]) -> None:
        topics = self._topics
        for change in changes:
            account = change.account_id
            if account not in self._subscribers:
                continue
            keys = [
                (account, "", ""),
                (account, "flow", change.flow_id or ""),
                (account, "integration", change.integration_id or ""),
                (account, "run", change.run_id or ""),
            ]
            for key in keys:
                followers = topics.get(key)
                if followers:
                    for subscription in list(followers):
                        subscription.offer(change)

    async def publish(self, changes: Iterable[Change]) -> None:
        self.deliver(changes)

    def drop(self, error: SubscriberTooSlow, account_ids: Iterable[str] | None = None) -> int:
        """End the subscriptions of these accounts (all when None) with ``error``; how many."""
        keys = list(self._subscribers) if account_ids is None else set(account_ids)
        dropped = 0
        for account_id in keys:
            for subscription in list(self._subscribers.get(account_id, ())):
                subscription.drop(error)
                dropped += 1
        return dropped

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.close()

    async def ping(self) -> None:
        return None
