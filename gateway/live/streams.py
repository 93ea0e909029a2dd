"""A subscription's stream of changes: replayed from the change log, then live from the broker,
in ``seq`` order, without gap or duplicate, each loaded fresh under the subscriber's account.

Order of work when a subscription starts: read the account's last ``seq``, subscribe to the
broker from it, then read the change log after the starting point (the ``after:`` cursor, or
that last ``seq``), so a change committed in between is in both places and never in neither.
The broker passes the account's changes on in ``seq`` order without gap (it repairs gaps from
the change log, once for all its subscribers: see ``gateway.live.broker``), of the one flow,
integration or run the subscription follows when it names one; the stream keeps a watermark
(the last ``seq`` it has passed) and skips what it replayed already.

Per event that matches, the API key is checked again (through the authenticator's short cache,
so a revoked key stops receiving within ``GATEWAY_KEY_CACHE_SECONDS``), the operation's loaders
are renewed (nothing cached for an earlier event is served again) and the object is loaded,
after the change was committed: one load shared by the subscribers of this process that
deliver the change at the same moment (``FreshRows``; rows are the account's whatever the
subscriber's role), started with the loads of the stream's next queued changes so that a
batch of changes costs one statement.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

from gateway.context import Context
from gateway.cursors import decode_event_cursor, encode_event_cursor
from gateway.db import changelog
from gateway.db.engine import Database
from gateway.errors import BadUserInput, GatewayError, Unauthenticated
from gateway.live.broker import SubscriberTooSlow, Subscription, Topic
from gateway.live.changes import Change, Kind
from gateway.loaders import Loaders

# At most this many changes of the account may lie after a resumed cursor.
REPLAY_MAX = 1_000
# The objects of at most this many of a stream's next changes are loaded ahead.
PREFETCH = 64
_STREAMS = "live_subscriptions"
REREAD = "re-read the view (a query) and subscribe again without after:"


class StreamInterrupted(GatewayError):
    """The broker dropped the subscriber (too slow, or a broker interruption)."""

    code = "SERVICE_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class Match:
    """Which changes a subscription wants; ``None`` or empty means any."""

    kind: Kind
    flow_id: str | None = None
    integration_id: str | None = None
    run_id: str | None = None
    statuses: frozenset[str] = frozenset()

    @property
    def topic(self) -> Topic | None:
        """The narrowest object the broker can follow for this match."""
        if self.run_id is not None:
            return ("run", self.run_id)
        if self.integration_id is not None:
            return ("integration", self.integration_id)
        if self.flow_id is not None:
            return ("flow", self.flow_id)
        return None

    def __call__(self, change: Change) -> bool:
        return (
            change.kind == self.kind
            and (self.flow_id is None or change.flow_id == self.flow_id)
            and (self.integration_id is None or change.integration_id == self.integration_id)
            and (self.run_id is None or change.run_id == self.run_id)
            and (not self.statuses or change.status in self.statuses)
        )


class FreshRows:
    """Loads the objects of changes, sharing a load still in flight: subscribers of this
    process that deliver one change at the same moment cost one read, and the objects of the
    changes loaded at one moment (an ingest batch) are read in one statement per kind. A
    finished load is not kept: a later delivery reads the object as it is then."""

    def __init__(self, db: Database, size: int = 1_024) -> None:
        self._db = db
        self._size = size
        self._loads: dict[tuple[str, int], asyncio.Future[Any]] = {}
        self._loaders: dict[str, Loaders] = {}

    def load(self, change: Change) -> asyncio.Future[Any]:
        """The change's object, loading (or already being loaded); await it shielded."""
        assert change.seq is not None
        key = (change.account_id, change.seq)
        loading = self._loads.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._loader(change).load(change.object_id))
            self._loads[key] = loading
            loading.add_done_callback(partial(self._done, key))
        return loading

    def _done(self, key: tuple[str, int], loading: asyncio.Future[Any]) -> None:
        if self._loads.get(key) is loading:
            del self._loads[key]
        if not loading.cancelled():
            loading.exception()  # retrieved: a waiter that is left raises it

    def _loader(self, change: Change) -> Any:
        loaders = self._loaders.get(change.account_id)
        if loaders is None:
            if len(self._loaders) >= self._size:
                self._loaders.clear()
            loaders = Loaders(self._db, change.account_id, cache=False)
            self._loaders[change.account_id] = loaders
        return {"run": loaders.run, "step": loaders.step, "integration": loaders.integration}[
            change.kind
        ]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event: the change and the object as it is now, loaded for this event."""

    change: Change
    row: Any

    @property
    def share(self) -> tuple[str, int]:
        """What makes two subscribers' events of this change the same event."""
        assert self.change.seq is not None
        return (self.change.account_id, self.change.seq)


async def check_key(ctx: Context) -> None:
    """Raises UNAUTHENTICATED if the operation's key has been revoked since it connected."""
    try:
        principal = await ctx.services.authenticator.principal(ctx.authorization)
    except Unauthenticated:
        raise Unauthenticated(
            "The API key of this subscription is unknown or was revoked; connect again with a"
            " valid key."
        ) from None
    if principal != ctx.principal:
        raise Unauthenticated("The API key of this subscription changed; connect again.")


class ChangeStream:
    """The deliveries of one subscription, as an async iterator; ``aclose()`` (or the end of
    the iteration) releases its broker subscription."""

    def __init__(
        self,
        ctx: Context,
        match: Match,
        subscription: Subscription,
        pending: list[Change],
        watermark: int,
    ) -> None:
        self._ctx = ctx
        self._match = match
        self._subscription = subscription
        self._pending = deque(pending)
        # Loads started for the next changes, by seq (at most PREFETCH).
        self._prefetched: dict[int, asyncio.Future[Any]] = {}
        self._watermark = watermark
        self._last_delivered: int | None = None
        self.closed = False

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self

    async def __anext__(self) -> Delivery:
        try:
            while True:
                change = await self._next_change()
                if not self._match(change):
                    continue
                loading = self._prefetch(change)
                await check_key(self._ctx)
                self._ctx.renew_loaders()
                # Shielded: a subscriber that goes away does not cancel the others' load.
                row = await asyncio.shield(loading)
                if row is None:  # gone since (erased): nothing to show
                    continue
                self._last_delivered = change.seq
                return Delivery(change, row)
        except BaseException:
            await self.aclose()
            raise

    def _prefetch(self, change: Change) -> asyncio.Future[Any]:
        """The load of this change's object, started (if not yet) with those of the next
        matching changes queued, so that they are read in one statement."""
        assert change.seq is not None
        fresh_rows = self._ctx.services.fresh_rows
        loading = self._prefetched.pop(change.seq, None) or fresh_rows.load(change)
        for later in islice((c for c in self._pending if self._match(c)), PREFETCH):
            assert later.seq is not None
            if later.seq not in self._prefetched:
                self._prefetched[later.seq] = fresh_rows.load(later)
        return loading

    async def _next_change(self) -> Change:
        while not self._pending:
            try:
                first = await anext(self._subscription)
            except SubscriberTooSlow as error:
                raise self._interrupted(error) from None
            for change in (first, *self._subscription.ready()):
                assert change.seq is not None
                if change.seq > self._watermark:  # else replayed already
                    self._pending.append(change)
                    self._watermark = change.seq
        return self._pending.popleft()

    def _interrupted(self, error: SubscriberTooSlow) -> StreamInterrupted:
        extensions: dict[str, Any] = {}
        if self._last_delivered is not None:
            extensions["lastCursor"] = encode_event_cursor(self._last_delivered)
        return StreamInterrupted(
            f"{error} Subscribe again with after: the cursor of the last event received"
            " to get every change since, in order.",
            **extensions,
        )

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self._subscription.close()


async def open_stream(ctx: Context, match: Match, after: str | None) -> ChangeStream:
    """Validates ``after``, subscribes to the broker, then reads what to replay.

    Without ``after`` the stream starts at the account's last change read *before*
    subscribing, and replays what was committed between that read and the subscription: a
    change committed while the subscription is being set up is delivered, not lost between
    the two."""
    account_id = ctx.account_id
    start = None if after is None else decode_event_cursor(after)
    await check_key(ctx)
    async with ctx.services.db.read() as conn:
        last = await changelog.last_seq(conn, account_id)
    seq = last if start is None else start
    subscription = ctx.services.broker.subscribe(
        account_id, match.topic, since=last, kind=match.kind
    )
    # The operation closes its streams when it ends, however it ends (close_streams).
    ctx.extras.setdefault(_STREAMS, []).append(subscription)
    try:
        async with ctx.services.db.read() as conn:
            if after is not None:
                await _check_cursor(conn, account_id, seq, last)
            pending = await changelog.after(conn, account_id, seq, REPLAY_MAX + 1)
        if after is not None and len(pending) > REPLAY_MAX:
            raise BadUserInput(
                f"More than {REPLAY_MAX} changes happened after the cursor, more than a"
                f" subscription replays; {REREAD}."
            )
        watermark = pending[-1].seq if pending else seq
        assert watermark is not None
        return ChangeStream(ctx, match, subscription, pending, watermark)
    except BaseException:
        subscription.close()
        raise


async def _check_cursor(conn: Any, account_id: str, seq: int, last: int) -> None:
    if seq > last:
        raise BadUserInput(
            f"The cursor is not one of this account's events (it is past the last change);"
            f" {REREAD}."
        )
    if seq + 1 < await changelog.first_seq(conn, account_id):
        raise BadUserInput(
            f"The cursor is older than the oldest change kept for resuming; {REREAD}."
        )


def close_streams(ctx: Context) -> None:
    """Releases every broker subscription an operation opened (idempotent)."""
    for subscription in ctx.extras.pop(_STREAMS, ()):
        subscription.close()
