"""A subscription's stream of changes: replayed from the change log, then live from the broker,
in ``seq`` order, without gap or duplicate, each loaded fresh under the subscriber's account.

Order of work when a subscription starts: subscribe to the broker **first**, then read the
change log after the starting point (the ``after:`` cursor, or the last ``seq`` read before
subscribing), so a change committed in between is in both places and never in neither. The
stream keeps a watermark (the last ``seq`` of the account it has passed): a live change at or
below it is a duplicate and skipped; one that jumps past ``watermark + 1`` means the broker has
not (yet) delivered the changes in between (publishes of two commits may overtake each other,
or come from another process): those are read from the change log first. Writes of one account
are serialised, so every ``seq`` below a published one is committed and readable.

The broker delivers every change of the account; the stream filters them. Per event that
matches, the API key is checked again (through the authenticator's short cache, so a revoked
key stops receiving within ``GATEWAY_KEY_CACHE_SECONDS``), the operation's loaders are renewed
(nothing cached for an earlier event is served again) and the object is loaded through them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from gateway.context import Context
from gateway.cursors import decode_event_cursor, encode_event_cursor
from gateway.db import changelog
from gateway.errors import BadUserInput, GatewayError, Unauthenticated
from gateway.live.broker import SubscriberTooSlow, Subscription
from gateway.live.changes import Change, Kind

# At most this many changes of the account may lie after a resumed cursor.
REPLAY_MAX = 1_000
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

    def __call__(self, change: Change) -> bool:
        return (
            change.kind == self.kind
            and (self.flow_id is None or change.flow_id == self.flow_id)
            and (self.integration_id is None or change.integration_id == self.integration_id)
            and (self.run_id is None or change.run_id == self.run_id)
            and (not self.statuses or change.status in self.statuses)
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event: the change and the object as it is now, loaded for this event."""

    change: Change
    row: Any


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
                await check_key(self._ctx)
                self._ctx.renew_loaders()
                row = await self._loader(change.kind).load(change.object_id)
                if row is None:  # gone since (erased): nothing to show
                    continue
                self._last_delivered = change.seq
                return Delivery(change, row)
        except BaseException:
            await self.aclose()
            raise

    def _loader(self, kind: Kind) -> Any:
        loaders = self._ctx.loaders
        return {"run": loaders.run, "step": loaders.step, "integration": loaders.integration}[
            kind
        ]

    async def _next_change(self) -> Change:
        while not self._pending:
            try:
                change = await anext(self._subscription)
            except SubscriberTooSlow as error:
                raise self._interrupted(error) from None
            assert change.seq is not None
            if change.seq <= self._watermark:
                continue  # replayed already, or before this subscription started
            if change.seq > self._watermark + 1:
                # The changes in between were committed before this one: read them first.
                async with self._ctx.services.db.read() as conn:
                    missed = await changelog.after(
                        conn,
                        self._ctx.account_id,
                        self._watermark,
                        change.seq - self._watermark - 1,
                    )
                self._pending.extend(c for c in missed if c.seq is not None and c.seq < change.seq)
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
    resuming = after is not None
    account_id = ctx.account_id
    await check_key(ctx)
    if after is not None:
        seq = decode_event_cursor(after)
    else:
        async with ctx.services.db.read() as conn:
            seq = await changelog.last_seq(conn, account_id)
    subscription = ctx.services.broker.subscribe(account_id)
    # The operation closes its streams when it ends, however it ends (close_streams).
    ctx.extras.setdefault(_STREAMS, []).append(subscription)
    try:
        async with ctx.services.db.read() as conn:
            if resuming:
                await _check_cursor(conn, account_id, seq)
            pending = await changelog.after(conn, account_id, seq, REPLAY_MAX + 1)
        if resuming and len(pending) > REPLAY_MAX:
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


async def _check_cursor(conn: Any, account_id: str, seq: int) -> None:
    if seq > await changelog.last_seq(conn, account_id):
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
