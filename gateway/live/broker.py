"""The broker: committed changes to the subscribers of their account, in this process.

``publish`` is called once per committed unit of work with its changes (in ``seq`` order).
Each subscriber has a bounded queue: one that does not keep up is dropped (its iterator raises
``SubscriberTooSlow``) instead of growing memory or delaying the others. Delivery is a hint:
a subscriber that reconnects replays what it missed from the change log.

**In order, without gap, per account**: the broker keeps one watermark per account with
subscribers (the last ``seq`` it passed on), started by the account's first subscriber's
``since`` (the last ``seq`` it read, or the last this process saw of the account, the later).
From then on every subscriber of the account receives the changes after the watermark in
``seq`` order, each once: a change at or below it is a duplicate and dropped; one past
``watermark + 1`` is held while the changes in between are awaited briefly (publishes of two
commits may overtake each other, or come from two processes) and then read from the change
log (``backfill``), so every subscriber of the account is repaired by one read instead of
each reading for itself. Writes of one account are serialised, so every ``seq`` below a
published one is committed and readable. A subscriber that starts later than the watermark
skips what it has read already (``gateway.live.streams`` does). A subscriber can then follow
one topic (a flow, an integration, a run) and be woken only for its changes: it never has to
see the whole account to know it missed nothing. A gap wider than a subscriber's queue, or one
the change log cannot fill, ends the account's subscriptions (they resume with ``after:``).

``MemoryBroker`` serves one process. ``RedisBroker`` (``redis_broker.py``) carries the same
messages between processes and fans them out locally with a ``MemoryBroker``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol

from gateway import tracing
from gateway.live.changes import Change

log = logging.getLogger("gateway.live")

DEFAULT_QUEUE_SIZE = 1_000
# How long a change that arrived ahead of others of its account waits for them before they
# are read from the change log.
GAP_GRACE_SECONDS = 0.05
# Accounts whose last seq the broker remembers.
SEEN_ACCOUNTS = 10_000

# The committed changes of an account with ``after < seq < before``, in order.
Backfill = Callable[[str, int, int], Awaitable[list[Change]]]


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed: it was dropped and must resume with ``after:``."""


class Broker(Protocol):
    async def publish(self, changes: Iterable[Change]) -> None: ...

    def subscribe(
        self,
        account_id: str,
        topic: Topic | None = None,
        since: int | None = None,
        kind: str | None = None,
    ) -> Subscription: ...

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
    ``close()`` (or ``async with``) when done. A deque and one waiter, not an ``asyncio.Queue``
    (three deques and an event): ten thousand idle subscribers keep a few KB less each."""

    __slots__ = (
        "_broker",
        "_ended",
        "_error",
        "_items",
        "_size",
        "_waiter",
        "account_id",
        "dropped",
        "kind",
        "topic",
    )

    def __init__(
        self,
        broker: MemoryBroker,
        account_id: str,
        size: int,
        topic: Topic | None = None,
        kind: str | None = None,
    ) -> None:
        self._broker = broker
        self.account_id = account_id
        self.topic = topic
        # Only changes of this kind ("run", "step", "integration") are queued, when given:
        # a whole-account subscriber of runs does not fill its queue with steps.
        self.kind = kind
        self._size = size
        self._items: deque[Change] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self.dropped = False
        self._error: SubscriberTooSlow | None = None

    def offer(self, change: Change) -> None:
        if self._ended or (self.kind is not None and change.kind != self.kind):
            return
        if len(self._items) >= self._size:
            self.drop(
                SubscriberTooSlow(
                    "Events arrived faster than this subscription read them; resume with after:"
                    " the last cursor received."
                )
            )
            return
        self._items.append(change)
        self._wake()

    def drop(self, error: SubscriberTooSlow) -> None:
        """End this subscription: its iterator yields what is queued, then raises ``error``."""
        if self._ended:
            return
        self.dropped = True
        self._error = error
        self._broker.remove(self)
        self._end()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def queued(self) -> int:
        return len(self._items)

    def ready(self) -> list[Change]:
        """The changes queued now, taken without waiting."""
        taken = list(self._items)
        self._items.clear()
        return taken

    def __aiter__(self) -> AsyncIterator[Change]:
        return self

    async def __anext__(self) -> Change:
        while not self._items:
            if self._ended:  # every later call ends the same way
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def close(self) -> None:
        self._broker.remove(self)
        if not self._ended:
            self._end()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()


class _Order:
    """An account's watermark in this process, and the changes held until a gap is filled."""

    __slots__ = ("filling", "held", "watermark")

    def __init__(self, watermark: int | None) -> None:
        self.watermark = watermark
        self.held: list[Change] = []
        self.filling: asyncio.Task[None] | None = None


class MemoryBroker:
    """In-process fan-out by account and topic: a change is offered to the account's
    whole-account subscribers and to those following its flow, integration or run, so ten
    thousand subscribers of one account cost a change only the few that follow its objects."""

    def __init__(
        self, queue_size: int = DEFAULT_QUEUE_SIZE, backfill: Backfill | None = None
    ) -> None:
        self.queue_size = queue_size
        self.backfill = backfill
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        # (account, topic kind or "", topic ID or "") -> subscribers
        self._topics: dict[tuple[str, str, str], set[Subscription]] = defaultdict(set)
        self._order: dict[str, _Order] = {}
        # The last seq passed on or seen per account (recent accounts): a watermark starts
        # there when an account's first subscriber comes (back), so that the changes seen
        # while it was reading the change log do not look like a gap.
        self._seen: OrderedDict[str, int] = OrderedDict()

    def subscribe(
        self,
        account_id: str,
        topic: Topic | None = None,
        since: int | None = None,
        kind: str | None = None,
    ) -> Subscription:
        """A subscription to the account's changes (of ``topic`` and ``kind`` only, if
        given). ``since``:
        the account's last ``seq`` the subscriber has read; from then on the broker passes the
        account's changes on in order, without gap or duplicate."""
        if topic is not None and topic[0] not in _TOPIC_KINDS:
            raise ValueError(f"unknown topic kind {topic[0]!r}")
        subscription = Subscription(self, account_id, self.queue_size, topic, kind)
        self._subscribers[account_id].add(subscription)
        self._topics[self._key(subscription)].add(subscription)
        if account_id not in self._order:
            seen = self._seen.get(account_id)
            start = since if seen is None or since is None else max(since, seen)
            self._order[account_id] = _Order(start)
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
                order = self._order.pop(subscription.account_id, None)
                if order is not None and order.filling is not None:
                    order.filling.cancel()
        key = self._key(subscription)
        followers = self._topics.get(key)
        if followers is not None:
            followers.discard(subscription)
            if not followers:
                del self._topics[key]

    def deliver(self, changes: Iterable[Change]) -> None:
        for change in changes:
            seq = change.seq
            if seq is not None:
                self._saw(change.account_id, seq)
            order = self._order.get(change.account_id)
            if order is None:
                continue  # no subscriber of the account in this process
            watermark = order.watermark
            if seq is None or watermark is None:
                self._offer(change)  # not numbered: nothing to order it by
            elif order.filling is not None:
                if len(order.held) >= self.queue_size:
                    self._cannot_order(change.account_id, "too many changes arrived meanwhile")
                else:
                    order.held.append(change)
            elif seq == watermark + 1:
                self._offer(change)
                order.watermark = seq
            elif seq > watermark:
                order.held.append(change)
                order.filling = asyncio.get_running_loop().create_task(
                    self._fill(change.account_id, order), name="broker-gap"
                )
            # else: at or below the watermark, passed on already

    def _saw(self, account_id: str, seq: int) -> None:
        seen = self._seen
        if seq > seen.get(account_id, 0):
            seen[account_id] = seq
            seen.move_to_end(account_id)
            if len(seen) > SEEN_ACCOUNTS:
                seen.popitem(last=False)

    def _cannot_order(self, account_id: str, why: str) -> None:
        order = self._order.get(account_id)
        if order is not None:
            order.held.clear()
        log.warning(
            "broker: the changes of account %r cannot be passed on in order (%s); its"
            " subscribers were told to resume",
            account_id,
            why,
        )
        self.drop(
            SubscriberTooSlow(
                "Some changes could not be passed on in order; resume with after: the last"
                " cursor received."
            ),
            [account_id],
        )

    def _offer(self, change: Change) -> None:
        account, topics = change.account_id, self._topics
        for key in (
            (account, "", ""),
            (account, "flow", change.flow_id or ""),
            (account, "integration", change.integration_id or ""),
            (account, "run", change.run_id or ""),
        ):
            followers = topics.get(key)
            if followers:
                for subscription in list(followers):
                    subscription.offer(change)

    async def _fill(self, account_id: str, order: _Order) -> None:
        """Passes on the held changes in order, once those before them have arrived or been
        read from the change log."""
        try:
            while order.held:
                order.held.sort(key=_seq)
                watermark, first = order.watermark, _seq(order.held[0])
                assert watermark is not None
                if first > watermark + 1:
                    await asyncio.sleep(GAP_GRACE_SECONDS)  # they may just be late
                    order.held.sort(key=_seq)
                    first = _seq(order.held[0])
                if first - watermark - 1 > self.queue_size:
                    raise LookupError(f"{first - watermark - 1} changes are missing")
                if first > watermark + 1:
                    missed = await self._missed(account_id, watermark, first)
                    if order is not self._order.get(account_id):
                        return  # its last subscriber left meanwhile
                    if {_seq(c) for c in missed} != set(range(watermark + 1, first)):
                        raise LookupError(
                            f"changes {watermark + 1}..{first - 1} are not all in the change log"
                        )
                    order.held.extend(missed)
                    order.held.sort(key=_seq)
                mark, passed = watermark, 0
                for change in order.held:
                    if _seq(change) > mark + 1:
                        break
                    passed += 1
                    if _seq(change) > mark:
                        self._offer(change)
                        mark = _seq(change)
                del order.held[:passed]
                order.watermark = mark
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._cannot_order(account_id, f"{type(error).__name__}: {error}")
        finally:
            order.filling = None

    async def _missed(self, account_id: str, after: int, before: int) -> list[Change]:
        if self.backfill is None:
            raise LookupError("no change log to read missed changes from")
        return await self.backfill(account_id, after, before)

    async def publish(self, changes: Iterable[Change]) -> None:
        if tracing.tracer is None:
            self.deliver(changes)
            return
        batch = list(changes)
        attributes = {"messaging.system": "memory", "messaging.batch.message_count": len(batch)}
        with tracing.span("broker publish", attributes, kind="PRODUCER"):
            self.deliver(batch)

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


def _seq(change: Change) -> int:
    assert change.seq is not None
    return change.seq
