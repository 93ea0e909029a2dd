"""The broker between processes: Redis pub/sub, fanned out in each process by a ``MemoryBroker``.

**One channel for the deployment** (``<prefix>:changes``), not one per account. Each process
holds exactly one Redis subscription, made at ``start()``, and filters by account locally (a
dict lookup in the ``MemoryBroker``). Why not a channel per account, subscribed when an
account's first local subscriber appears:

- ``subscribe()`` is synchronous and the subscription layer replays the change log and then
  goes live; a new account's channel would be deaf until its SUBSCRIBE round trip completed,
  and a change committed in that window would be neither replayed nor delivered. With one
  channel a subscription is live the moment it exists (while Redis is reachable).
- No SUBSCRIBE/UNSUBSCRIBE traffic or first-arrives-while-last-leaves races as subscriptions
  come and go (a dashboard reconnecting, a thousand short operations).
- Messages are IDs and statuses, about 400 bytes: at 1,000 changes/s every process reads
  ~400 KB/s, and receiving costs it about 0.1 ms of CPU a change (mostly redis-py's parser),
  a tenth of a core. The cost grows with the deployment's total change rate times the number
  of processes; when that matters, hash the account onto K channels (still subscribed at
  start) rather than one channel per account.

**Exactly once for a process's own changes**: ``publish`` delivers them to the local
subscribers at once (also while Redis is down) and tags the Redis message with this broker's
random origin; the listener skips messages of its own origin.

**Pub/sub is a hint**: a subscriber that may have missed a change is ended with
``BrokerInterrupted`` (a ``SubscriberTooSlow``), so its client resumes with ``after:`` from
the change log. That happens to every local subscriber when the listener subscribes again
after losing Redis, and to the subscribers of an account in every other process when this
process could not publish that account's changes (a *gap notice*, sent as soon as Redis takes
messages again; while one is pending, publishes skip Redis so no writer waits on it).

**Ordered, bounded publishing**: one sender per process sends what was published while a send
was in flight in one pipelined round trip, so Redis sees a process's changes in publish order
(and nothing newer than a lost change goes out before its gap notice). A publish never raises
and waits at most twice ``timeout`` (the batch in flight, then its own); a failure is one log
line per outage. The listener reconnects with capped, jittered exponential backoff and logs one
line per change of state, not per attempt; a silent connection is detected by a PING after
``keepalive`` seconds without traffic. redis-py's own pub/sub reconnect is off (no retries):
it resubscribes silently, which would hide the gap.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway import tracing
from gateway.live.broker import (
    DEFAULT_QUEUE_SIZE,
    Backfill,
    MemoryBroker,
    SubscriberTooSlow,
    Subscription,
    Topic,
)
from gateway.live.changes import Change

log = logging.getLogger("gateway.live")

# A gap notice names accounts up to this many; beyond, it means every account.
GAP_ACCOUNTS_MAX = 1_000
# Messages waiting to be sent, at most; beyond, a publish records a gap instead.
OUTBOX_MAX = 10_000


class BrokerUnavailable(Exception):
    """Redis cannot carry messages right now (``ping()``)."""


class BrokerInterrupted(SubscriberTooSlow):
    """Changes may have been lost between processes. A ``SubscriberTooSlow`` so that every
    handler of a dropped subscriber handles it the same way: the client resumes with ``after:``."""


def redacted(url: str) -> str:
    """The URL without its user and password, for logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    where = f"[{host}]" if ":" in host else host
    if parts.port:
        where += f":{parts.port}"
    return f"{parts.scheme}://{where}{parts.path}"


class RedisBroker:
    def __init__(
        self,
        url: str,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        *,
        channel_prefix: str = "gateway",
        timeout: float = 0.5,
        start_timeout: float = 2.0,
        backoff_base: float = 0.1,
        backoff_cap: float = 5.0,
        keepalive: float = 5.0,
        backfill: Backfill | None = None,
    ) -> None:
        self.channel = f"{channel_prefix}:changes"
        self.where = redacted(url)
        self._local = MemoryBroker(queue_size, backfill)
        self._origin = secrets.token_hex(8)
        self._timeout = timeout
        self._start_timeout = start_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._keepalive = keepalive
        # No retries inside redis-py: every failure comes back here, where it is handled once.
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        self._pool = BlockingConnectionPool.from_url(
            url, max_connections=16, timeout=timeout, **options
        )
        self._publisher = Redis(connection_pool=self._pool)
        self._subscriber = Redis.from_url(url, **options)
        self._listener: asyncio.Task[None] | None = None
        self._repair: asyncio.Task[None] | None = None
        # Messages waiting for the sender, in publish order, and the future their writers await.
        self._outbox: list[tuple[list[Change], bytes]] = []
        self._outbox_sent: asyncio.Future[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._closed = False
        self._state = "starting"
        self._down_since = 0.0
        self._last_error = "not connected yet"
        # Accounts whose changes did not reach Redis (None: nothing pending; empty with
        # ``_gap_all``: every account), and how many changes that was.
        self._gap: set[str] | None = None
        self._gap_all = False
        self._gap_version = 0
        self._unsent = 0
        # Told, for each message of another process, the seconds since it was published
        # (``sentAt``, by the sender's clock: across hosts, as good as their clocks agree).
        self.observe_lag: Callable[[float], None] | None = None

    # --- the Broker protocol ------------------------------------------------------------

    def subscribe(
        self,
        account_id: str,
        topic: Topic | None = None,
        since: int | None = None,
        kind: str | None = None,
    ) -> Subscription:
        return self._local.subscribe(account_id, topic, since, kind)

    async def publish(self, changes: Iterable[Change]) -> None:
        batch = list(changes)
        if not batch:
            return
        if tracing.tracer is None:
            await self._publish(batch, None)
            return
        attributes = {
            "messaging.system": "redis",
            "messaging.destination.name": self.channel,
            "messaging.batch.message_count": len(batch),
        }
        with tracing.span("broker publish", attributes, kind="PRODUCER"):
            await self._publish(batch, tracing.carrier())

    async def _publish(self, batch: list[Change], trace: dict[str, str] | None) -> None:
        """``trace``: the publisher's trace context, for the receivers' spans."""
        self._local.deliver(batch)
        if self._closed:
            return
        if self._gap is not None:
            # Nothing newer goes out before the gap notice, or a receiver could not tell.
            self._widen_gap(batch)
            return
        if len(self._outbox) >= OUTBOX_MAX:
            log.warning(
                "redis broker: %d messages already wait for %s; %d change(s) not sent, other"
                " processes' subscribers of the account will be told to resume",
                len(self._outbox),
                self.where,
                len(batch),
            )
            self._widen_gap(batch)
            return
        envelope: dict[str, Any] = {
            "origin": self._origin,
            "sentAt": time.time(),
            "changes": [change.to_message() for change in batch],
        }
        if trace:
            envelope["trace"] = trace
        message = orjson.dumps(envelope)
        self._outbox.append((batch, message))
        if self._outbox_sent is None:
            self._outbox_sent = asyncio.get_running_loop().create_future()
        sent = self._outbox_sent
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_outbox(), name="redis-broker-sender")
        # Shielded: a writer cancelled after its commit still has its changes sent (or the
        # gap recorded). It waits for the batch in flight and its own: at most 2 x timeout.
        await asyncio.shield(sent)

    async def start(self) -> None:
        if self._listener is not None or self._closed:
            return
        self._listener = asyncio.create_task(self._listen(), name="redis-broker-listener")
        try:
            async with asyncio.timeout(self._start_timeout):
                await self._subscribed.wait()
        except TimeoutError:
            pass  # the listener logged it and keeps trying; /readyz says not ready

    async def close(self) -> None:
        self._closed = True
        if self._sender is not None:
            await asyncio.wait([self._sender], timeout=2 * self._timeout)
        tasks = [t for t in (self._listener, self._repair, self._sender) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._listener = self._repair = self._sender = None
        if self._outbox_sent is not None and not self._outbox_sent.done():
            self._outbox_sent.set_result(None)  # no writer waits on a closed broker
        self._outbox, self._outbox_sent = [], None
        self._subscribed.clear()
        await self._local.close()
        await self._publisher.aclose()
        await self._pool.disconnect()
        await self._subscriber.aclose()

    async def ping(self) -> None:
        if not self._subscribed.is_set():
            raise BrokerUnavailable(f"not subscribed to {self.where}: {self._last_error}")
        try:
            async with asyncio.timeout(self._timeout):
                await self._publisher.ping()
        except Exception as error:
            raise BrokerUnavailable(f"{self.where} did not answer PING: {_text(error)}") from None

    def subscriber_count(self) -> int:
        return self._local.subscriber_count()

    # --- publishing -----------------------------------------------------------------------

    async def _send_outbox(self) -> None:
        """The one sender: what was published while a send was in flight goes out next, in
        one pipelined round trip, so Redis sees this process's changes in publish order."""
        while self._outbox:
            taken, self._outbox = self._outbox, []
            sent, self._outbox_sent = self._outbox_sent, None
            changes = [change for batch, _ in taken for change in batch]
            try:
                if self._gap is not None:
                    # Nothing newer goes out before the gap notice, or a receiver could
                    # resume after a change that came later than the lost one.
                    self._widen_gap(changes)
                    continue
                async with asyncio.timeout(self._timeout):
                    if len(taken) == 1:  # a pipeline costs more than it saves for one
                        await self._publisher.publish(self.channel, taken[0][1])
                    else:
                        pipe = self._publisher.pipeline(transaction=False)
                        for _, message in taken:
                            pipe.publish(self.channel, message)
                        await pipe.execute()
            except Exception as error:  # a publish never fails the committed write
                log.warning(
                    "redis broker: could not publish %d change(s) to %s (%s); other processes'"
                    " subscribers of their accounts will be told to resume",
                    len(changes),
                    self.where,
                    _text(error),
                )
                self._widen_gap(changes)
            finally:
                if sent is not None and not sent.done():
                    sent.set_result(None)

    def _widen_gap(self, batch: list[Change]) -> None:
        if self._gap is None:
            self._gap = set()
        if not self._gap_all:
            self._gap.update(change.account_id for change in batch)
            if len(self._gap) > GAP_ACCOUNTS_MAX:
                self._gap_all = True
                self._gap.clear()
        self._gap_version += 1
        self._unsent += len(batch)
        if self._repair is None or self._repair.done():
            self._repair = asyncio.create_task(self._send_gap(), name="redis-broker-gap")

    async def _send_gap(self) -> None:
        attempt = 0
        while self._gap is not None:
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1
            version = self._gap_version
            accounts = None if self._gap_all else sorted(self._gap)
            notice = orjson.dumps({"origin": self._origin, "gap": accounts})
            try:
                async with asyncio.timeout(self._timeout):
                    await self._publisher.publish(self.channel, notice)
            except Exception:  # still unreachable: the next attempt, no log line
                continue
            if version == self._gap_version:
                log.info(
                    "redis broker: publishing to %s again; %d change(s) of %s were not sent"
                    " and their subscribers in other processes were told to resume",
                    self.where,
                    self._unsent,
                    "every account" if accounts is None else f"{len(accounts)} account(s)",
                )
                self._gap, self._gap_all, self._unsent = None, False, 0

    # --- listening ------------------------------------------------------------------------

    async def _listen(self) -> None:
        attempt = 0
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                await self._subscribe(pubsub)
                attempt = 0
                await self._receive(pubsub)
            except Exception as error:  # any failure: reconnect (the loop must not die)
                self._lost(error)
            finally:
                await pubsub.aclose()
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    async def _subscribe(self, pubsub: PubSub) -> None:
        async with asyncio.timeout(self._timeout * 2):
            await pubsub.subscribe(self.channel)
            confirmed = False
            while not confirmed:  # until the SUBSCRIBE is confirmed, or the timeout
                reply = await pubsub.get_message(timeout=self._timeout)
                confirmed = reply is not None and reply["type"] == "subscribe"
        # Every local subscriber may have missed changes of other processes until now.
        interrupted = self._local.drop(
            BrokerInterrupted(
                "The live connection between gateway processes was interrupted; resume with"
                " after: the last cursor received."
            )
        )
        self._subscribed.set()
        if self._state == "down":
            log.info(
                "redis broker: subscribed to %s again after %.1f s; %d subscriber(s) told to"
                " resume",
                self.where,
                time.monotonic() - self._down_since,
                interrupted,
            )
        else:
            log.info("redis broker: subscribed to %s on %s", self.channel, self.where)
        self._state = "up"

    async def _receive(self, pubsub: PubSub) -> None:
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=self._keepalive)
            if message is None:
                if pinged:
                    raise TimeoutError(f"no reply to PING within {self._keepalive:g} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message["type"] == "message":
                self._on_message(message["data"])

    def _on_message(self, data: bytes) -> None:
        try:
            envelope = orjson.loads(data)
            if envelope["origin"] == self._origin:
                return
            if "gap" in envelope:
                self._local.drop(
                    BrokerInterrupted(
                        "Another gateway process could not pass on some changes; resume with"
                        " after: the last cursor received."
                    ),
                    envelope["gap"],
                )
                return
            changes = [Change.from_message(message) for message in envelope["changes"]]
            sent_at = envelope.get("sentAt")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            log.warning(
                "redis broker: ignored a malformed message on %s (%s)", self.channel, _text(error)
            )
            return
        if tracing.tracer is None:
            self._local.deliver(changes)
        else:  # a span continuing the publisher's trace
            trace = envelope.get("trace")
            attributes = {
                "messaging.system": "redis",
                "messaging.destination.name": self.channel,
                "messaging.batch.message_count": len(changes),
            }
            with tracing.span(
                "broker receive",
                attributes,
                kind="CONSUMER",
                parent=trace if isinstance(trace, dict) else {},
            ):
                self._local.deliver(changes)
        if self.observe_lag is not None and isinstance(sent_at, int | float):
            self.observe_lag(max(0.0, time.time() - sent_at))

    def _lost(self, error: BaseException) -> None:
        self._subscribed.clear()
        self._last_error = _text(error)
        if self._state == "down":
            return
        log.warning(
            "redis broker: %s %s (%s); retrying with backoff up to %g s",
            "lost" if self._state == "up" else "cannot reach",
            self.where,
            self._last_error,
            self._backoff_cap,
        )
        self._state = "down"
        self._down_since = time.monotonic()

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with equal jitter (never less than half the step)."""
        step = min(self._backoff_cap, self._backoff_base * 2 ** min(attempt, 30))
        return step / 2 + random.uniform(0, step / 2)


def _text(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
