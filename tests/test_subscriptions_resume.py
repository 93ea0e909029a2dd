"""A subscription's stream on its own (in process, both backends): replay bounds, and live
changes in seq order without gap or duplicate whatever order the broker delivers them in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event

from gateway.auth.keys import create_key
from gateway.context import Context, make_context
from gateway.cursors import decode_event_cursor, encode_event_cursor
from gateway.db import accounts, changelog
from gateway.errors import BadUserInput, Unauthenticated
from gateway.live.broker import MemoryBroker, Subscription
from gateway.live.changes import Change
from gateway.live.streams import REPLAY_MAX, ChangeStream, Match, open_stream
from gateway.services import Services
from tests import events as e
from tests.conftest import Api

RUNS = Match("run")


@pytest.fixture
async def ctx(services: Services, account_id: str) -> Context:
    key = await create_key(services.db, account_id, "viewer")
    authorization = f"Bearer {key}"
    principal = await services.authenticator.principal(authorization)
    return make_context(services, principal, "test", authorization)


@pytest.fixture
async def unpublished(services: Services) -> AsyncIterator[None]:
    """While active, committed changes reach the change log but not the broker."""
    publisher = services.db.publisher
    services.db.publisher = None
    try:
        yield
    finally:
        services.db.publisher = publisher


async def next_run(stream: ChangeStream) -> tuple[str, str, int]:
    async with asyncio.timeout(5):
        delivery = await anext(stream)
    assert delivery.change.seq is not None
    return delivery.row.run_id, delivery.change.status, delivery.change.seq


def test_event_cursors_round_trip_and_refuse_anything_else() -> None:
    assert decode_event_cursor(encode_event_cursor(42)) == 42
    for bad in ("", "x", encode_event_cursor(1)[:-2], "WzEsImV2ZW50IiwtMV0", "WzIsImV2ZW50IiwxXQ"):
        with pytest.raises(BadUserInput):
            decode_event_cursor(bad)


async def test_changes_the_broker_skipped_are_read_from_the_log_in_order(
    services: Services, ingester: Api, ctx: Context
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    stream = await open_stream(ctx, RUNS, None)
    try:
        # Given two committed changes the broker never delivered
        services.db.publisher, publisher = None, services.db.publisher
        try:
            batch = [e.run_started("run-1", "int-1", 10), e.run_started("run-2", "int-1", 11)]
            await ingester.data(e.INGEST, {"events": batch})
        finally:
            services.db.publisher = publisher
        # When a later change arrives
        await ingester.data(e.INGEST, {"events": [e.run_started("run-3", "int-1", 12)]})
        # Then the stream delivers the skipped ones first, in order
        got = [await next_run(stream) for _ in range(3)]
        assert [(run, status) for run, status, _ in got] == [
            ("run-1", "RUNNING"),
            ("run-2", "RUNNING"),
            ("run-3", "RUNNING"),
        ]
        seqs = [seq for *_, seq in got]
        assert seqs == sorted(seqs)
        # And a change the broker delivers again (or late) is not delivered twice
        async with services.db.read() as conn:
            [again] = await changelog.after(conn, ctx.account_id, seqs[1] - 1, 1)
        assert isinstance(services.broker, MemoryBroker)
        services.broker.deliver([again])
        await ingester.data(e.INGEST, {"events": [e.run_finished("run-1", "OK", 13)]})
        assert await next_run(stream) == ("run-1", "OK", seqs[-1] + 1)
    finally:
        await stream.aclose()
    assert stream.closed


async def test_a_resumed_stream_replays_then_goes_live_without_duplicates(
    services: Services, ingester: Api, ctx: Context, unpublished: None
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    async with services.db.read() as conn:
        start = await changelog.last_seq(conn, ctx.account_id)
    batch = [e.run_started("run-1", "int-1", 10), e.run_finished("run-1", "FAILED", 11)]
    await ingester.data(e.INGEST, {"events": batch})
    stream = await open_stream(ctx, RUNS, encode_event_cursor(start))
    try:
        # A change already replayed, delivered by the broker after the replay was read
        async with services.db.read() as conn:
            replayed = await changelog.after(conn, ctx.account_id, start, 10)
        assert isinstance(services.broker, MemoryBroker)
        services.broker.deliver(replayed)
        assert await next_run(stream) == ("run-1", "RUNNING", start + 1)
        assert await next_run(stream) == ("run-1", "FAILED", start + 2)
        services.db.publisher = services.broker.publish
        await ingester.data(e.INGEST, {"events": [e.run_started("run-2", "int-1", 12)]})
        assert await next_run(stream) == ("run-2", "RUNNING", start + 3)
    finally:
        await stream.aclose()


async def test_more_than_the_replay_window_after_the_cursor_is_refused(
    services: Services, ctx: Context
) -> None:
    async with services.db.write(ctx.account_id) as uow:
        uow.record(
            *(Change(ctx.account_id, "run", f"r{i}", "OK", None, e.T0) for i in range(REPLAY_MAX))
        )
    # Exactly the window replays
    stream = await open_stream(ctx, RUNS, encode_event_cursor(0))
    await stream.aclose()
    async with services.db.write(ctx.account_id) as uow:
        uow.record(Change(ctx.account_id, "run", "one-more", "OK", None, e.T0))
    with pytest.raises(BadUserInput, match=f"More than {REPLAY_MAX} changes.*re-read the view"):
        await open_stream(ctx, RUNS, encode_event_cursor(0))
    # The refused stream left no subscriber behind
    assert isinstance(services.broker, MemoryBroker)
    assert ctx.account_id not in services.broker._subscribers


async def test_a_cursor_older_than_the_kept_changes_is_refused(
    services: Services, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changelog, "KEEP", 3)
    monkeypatch.setattr(changelog, "_PRUNE_EVERY", 1)
    for i in range(6):
        async with services.db.write(ctx.account_id) as uow:
            uow.record(Change(ctx.account_id, "run", f"r{i}", "OK", None, e.T0))
    async with services.db.read() as conn:
        assert await changelog.first_seq(conn, ctx.account_id) == 4
    with pytest.raises(BadUserInput, match=r"older than the oldest change kept.*re-read the view"):
        await open_stream(ctx, RUNS, encode_event_cursor(2))
    # The cursor just before the oldest kept change still resumes
    stream = await open_stream(ctx, RUNS, encode_event_cursor(3))
    await stream.aclose()


async def test_a_revoked_key_ends_the_stream_at_its_next_matching_change(
    services: Services, ingester: Api, ctx: Context
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    stream = await open_stream(ctx, RUNS, None)
    async with services.db.transaction() as conn:
        assert await accounts.revoke_key(conn, ctx.principal.key_id)
    await ingester.data(e.INGEST, {"events": [e.run_started("run-1", "int-1", 10)]})
    with pytest.raises(Unauthenticated, match="revoked"):
        await next_run(stream)
    assert stream.closed


async def test_a_change_committed_while_a_subscription_starts_is_delivered_once(
    services: Services, ingester: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    await ingester.data(e.INGEST, {"events": [e.run_started("run-1", "int-1", 10)]})
    broker = services.broker
    assert isinstance(broker, MemoryBroker)
    subscribed = False
    real_subscribe = broker.subscribe

    def subscribe(account_id: str, *args: Any, **kwargs: Any) -> Subscription:
        nonlocal subscribed
        subscribed = True
        return real_subscribe(account_id, *args, **kwargs)

    # Given a change committed (and published) after the stream subscribed to the broker,
    # before it read the change log
    change = Change(ctx.account_id, "run", "run-1", "OK", "RUNNING", e.T0, run_id="run-1")
    committed = False

    def reading_after_subscribe(read: Any) -> Any:
        async def wrapped(*args: Any) -> Any:
            nonlocal committed
            if subscribed and not committed:
                committed = True
                async with services.db.write(ctx.account_id) as uow:
                    uow.record(change)
            return await read(*args)

        return wrapped

    monkeypatch.setattr(broker, "subscribe", subscribe)
    monkeypatch.setattr(changelog, "last_seq", reading_after_subscribe(changelog.last_seq))
    monkeypatch.setattr(changelog, "after", reading_after_subscribe(changelog.after))
    stream = await open_stream(ctx, RUNS, None)
    try:
        assert committed
        # Then the subscriber gets it once, then the next change
        run, status, seq = await next_run(stream)
        assert (run, status) == ("run-1", "OK")
        await ingester.data(e.INGEST, {"events": [e.run_started("run-2", "int-1", 12)]})
        assert await next_run(stream) == ("run-2", "RUNNING", seq + 1)
    finally:
        await stream.aclose()


async def test_a_stream_following_an_integration_is_offered_only_its_changes_and_misses_none(
    services: Services, ingester: Api, ctx: Context
) -> None:
    events = [e.flow(), e.integration("int-1"), e.integration("int-2")]
    await ingester.data(e.INGEST, {"events": events})
    stream = await open_stream(ctx, Match("run", integration_id="int-1"), None)
    subscription = stream._subscription
    try:
        # Changes of other integrations are not even offered to it
        others = [e.run_started(f"other-{n}", "int-2", 10 + n) for n in range(5)]
        await ingester.data(e.INGEST, {"events": others})
        assert subscription.queued == 0
        # Given its own changes committed but never published, between others' changes
        services.db.publisher, publisher = None, services.db.publisher
        try:
            await ingester.data(e.INGEST, {"events": [e.run_started("run-1", "int-1", 20)]})
            await ingester.data(e.INGEST, {"events": [e.run_started("other-9", "int-2", 21)]})
        finally:
            services.db.publisher = publisher
        # When its next change is published, the skipped one comes first, in order
        await ingester.data(e.INGEST, {"events": [e.run_started("run-2", "int-1", 22)]})
        got = [await next_run(stream) for _ in range(2)]
        assert [run for run, *_ in got] == ["run-1", "run-2"]
    finally:
        await stream.aclose()


async def test_a_change_is_loaded_once_for_every_subscriber_and_a_batch_in_one_statement(
    services: Services, ingester: Api, account_id: str
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    streams = []
    for role in ("viewer", "admin") * 10:
        key = await create_key(services.db, account_id, role)
        authorization = f"Bearer {key}"
        principal = await services.authenticator.principal(authorization)
        ctx = make_context(services, principal, "test", authorization)
        streams.append(await open_stream(ctx, RUNS, None))
    reads: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "runs" in statement:
            reads.append(statement)

    engine = services.db.engine.sync_engine
    try:
        # Given six changes in two commits, both before the subscribers read
        await ingester.data(e.INGEST, {"events": [e.run_started("run-0", "int-1", 10)]})
        batch = [e.run_started(f"run-{n}", "int-1", 10 + n) for n in range(1, 6)]
        await ingester.data(e.INGEST, {"events": batch})
        event.listen(engine, "before_cursor_execute", record)

        # Then twenty subscribers of both roles get all six, at the cost of one read
        async def six(stream: ChangeStream) -> list[tuple[str, str, int]]:
            return [await next_run(stream) for _ in range(6)]

        got = await asyncio.gather(*(six(stream) for stream in streams))
        assert all([run for run, *_ in runs] == [f"run-{n}" for n in range(6)] for runs in got)
        assert len(reads) == 1, reads
    finally:
        event.remove(engine, "before_cursor_execute", record)
        for stream in streams:
            await stream.aclose()


async def test_a_later_delivery_shows_the_object_as_it_is_then(
    services: Services, ingester: Api, ctx: Context
) -> None:
    await ingester.data(e.INGEST, {"events": [e.flow(), e.integration("int-1")]})
    async with services.db.read() as conn:
        start = await changelog.last_seq(conn, ctx.account_id)
    first = await open_stream(ctx, RUNS, None)
    try:
        await ingester.data(e.INGEST, {"events": [e.run_started("run-1", "int-1", 10)]})
        async with asyncio.timeout(5):
            delivered = await anext(first)
        assert delivered.row.status == "RUNNING"
        await ingester.data(e.INGEST, {"events": [e.run_finished("run-1", "OK", 11)]})
        # A stream that replays the start later sees the run as it is now
        later = await open_stream(ctx, RUNS, encode_event_cursor(start))
        try:
            async with asyncio.timeout(5):
                replayed = await anext(later)
            assert replayed.change.status == "RUNNING"
            assert replayed.row.status == "OK"
        finally:
            await later.aclose()
    finally:
        await first.aclose()
