"""The Redis broker, as two gateway processes use it: two ``RedisBroker`` instances on one Redis.

Normal tests share the Redis at 127.0.0.1:6379, each on its own channel prefix. Tests that stop
Redis start a private ``redis-server`` on a free port (the shared one is never touched)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.cli import main
from gateway.config import Settings, get_settings
from gateway.db.migrate import upgrade_async
from gateway.live.broker import MemoryBroker, SubscriberTooSlow, Subscription
from gateway.live.changes import Change
from gateway.live.redis_broker import BrokerInterrupted, BrokerUnavailable, RedisBroker
from tests import events as e

SHARED_REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def process_broker(url: str, prefix: str, queue_size: int = 8) -> RedisBroker:
    """One process's broker, with short reconnect steps so tests stay quick."""
    return RedisBroker(
        url,
        queue_size,
        channel_prefix=prefix,
        backoff_base=0.05,
        backoff_cap=0.3,
        keepalive=1.0,
    )


@pytest.fixture(scope="session")
def redis_url() -> str:
    async def ping() -> None:
        client = Redis.from_url(SHARED_REDIS_URL, socket_connect_timeout=1)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(ping())
    except Exception as error:
        if IN_CI:
            pytest.fail(f"Redis is required in CI and unreachable at {SHARED_REDIS_URL}: {error}")
        pytest.skip(
            f"Redis not reachable at {SHARED_REDIS_URL} ({error}); set CI=true to require it"
        )
    return SHARED_REDIS_URL


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def two(redis_url: str, prefix: str) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    """Two processes' brokers on one deployment's channel."""
    first = process_broker(redis_url, prefix)
    second = process_broker(redis_url, prefix)
    await first.start()
    await second.start()
    yield first, second
    await first.close()
    await second.close()


def change(account_id: str, object_id: str, status: str = "OK") -> Change:
    return Change(
        account_id=account_id,
        kind="run",
        object_id=object_id,
        status=status,
        previous="RUNNING",
        at=datetime.now(UTC),
        flow_id="flow-1",
        integration_id="int-1",
        seq=1,
    )


async def read_until(subscription: Subscription, last: str, within: float = 3.0) -> list[str]:
    """The object IDs received, up to and including ``last``."""
    seen: list[str] = []
    async with asyncio.timeout(within):
        async for received in subscription:
            seen.append(received.object_id)
            if received.object_id == last:
                return seen
    raise AssertionError(f"the subscription ended before {last}: {seen}")


async def drain(subscription: Subscription, into: list[str], within: float = 2.0) -> None:
    """Reads the subscription to its end (or its error) into ``into``."""
    async with asyncio.timeout(within):
        async for received in subscription:
            into.append(received.object_id)


async def test_a_publish_reaches_the_subscribers_of_both_processes_exactly_once(
    two: tuple[RedisBroker, RedisBroker],
) -> None:
    # given subscribers of one account in both processes
    first, second = two
    here, there, there_too = (
        first.subscribe("acme"),
        second.subscribe("acme"),
        second.subscribe("acme"),
    )
    # when each process publishes, the second after the first's publish returned
    await first.publish([change("acme", "r1"), change("acme", "r2")])
    await first.publish([change("acme", "r3")])
    await second.publish([change("acme", "end")])
    # then everyone gets every change once, in order (a duplicate of the first process's
    # changes through Redis would arrive before the second's)
    for subscription in (here, there, there_too):
        assert await read_until(subscription, "end") == ["r1", "r2", "r3", "end"]
    # and the payload survives the trip whole
    await first.publish([sent := change("acme", "whole")])
    received = await anext(aiter(there))
    assert received == sent


async def test_subscribers_get_only_their_own_accounts_changes(
    two: tuple[RedisBroker, RedisBroker],
) -> None:
    first, second = two
    b_here, b_there = first.subscribe("acct-b"), second.subscribe("acct-b")
    a_there = second.subscribe("acct-a")
    # when account A's changes, with the same IDs, are published, then one for B
    await first.publish([change("acct-a", "same-id"), change("acct-a", "other")])
    await first.publish([change("acct-b", "b-only")])
    # then B's subscribers see B's change alone, A's see A's
    assert await read_until(b_here, "b-only") == ["b-only"]
    assert await read_until(b_there, "b-only") == ["b-only"]
    assert await read_until(a_there, "other") == ["same-id", "other"]


async def test_a_slow_subscriber_is_dropped_with_a_bounded_queue_and_others_keep_receiving(
    two: tuple[RedisBroker, RedisBroker],
) -> None:
    first, second = two
    slow, fast = second.subscribe("acme"), second.subscribe("acme")
    received: list[str] = []

    async def keep_up() -> None:
        async for got in fast:
            received.append(got.object_id)
            if got.object_id == "r199":
                return

    reader = asyncio.create_task(keep_up())
    # when 200 changes arrive through Redis and the slow one reads none of them
    for i in range(200):
        await first.publish([change("acme", f"r{i}")])
    async with asyncio.timeout(3):
        await reader
    # then the fast one got them all
    assert received == [f"r{i}" for i in range(200)]
    # and the slow one holds no more than its queue (8) before it is told it was too slow
    held: list[str] = []
    with pytest.raises(SubscriberTooSlow, match="resume with after:"):
        await drain(slow, held)
    assert len(held) == 8
    numbers = [int(object_id[1:]) for object_id in held]
    assert numbers == list(range(numbers[0], numbers[-1] + 1)), "in order, none skipped"
    assert numbers[-1] < 8, "what it held was the oldest: nothing after the overflow"
    assert second.subscriber_count() == 1, "the dropped subscriber is gone from the broker"


async def test_closed_subscriptions_leave_nothing_and_close_leaves_no_task_or_channel(
    redis_url: str, prefix: str
) -> None:
    tasks_before = asyncio.all_tasks()
    brokers = [process_broker(redis_url, prefix, 1000) for _ in range(2)]
    for broker in brokers:
        await broker.start()
    admin = Redis.from_url(redis_url)
    channel = brokers[0].channel
    try:
        # given 1,000 subscriptions over 100 accounts, opened and closed
        subscriptions = [
            broker.subscribe(f"acct-{i % 100}") for i in range(500) for broker in brokers
        ]
        assert sum(b.subscriber_count() for b in brokers) == 1000
        # one Redis subscription per process, however many local subscribers
        assert await admin.pubsub_numsub(channel) == [(channel.encode(), 2)]
        for subscription in subscriptions:
            subscription.close()
        assert [b.subscriber_count() for b in brokers] == [0, 0]
        # a closed subscription's iterator ends (and keeps ending) instead of waiting
        for _ in range(2):
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(subscriptions[0]), 1)
        await brokers[0].publish([change("acct-1", "nobody-listens")])
    finally:
        for broker in brokers:
            await broker.close()
    # then the channel has no subscriber left and no task of the brokers runs
    assert await admin.pubsub_numsub(channel) == [(channel.encode(), 0)]
    await admin.aclose()
    assert asyncio.all_tasks() - tasks_before == set()


async def test_a_subscriber_closed_with_a_full_queue_ends_instead_of_waiting() -> None:
    # given a subscription whose queue is exactly full (not yet too slow)
    broker = MemoryBroker(queue_size=8)
    subscription = broker.subscribe("acme")
    broker.deliver([change("acme", f"r{i}") for i in range(8)])
    # when it is closed (by another task than its reader), then its reader ends
    subscription.close()
    held: list[str] = []
    await drain(subscription, held, within=1)
    assert len(held) == 8


async def test_a_failed_publish_tells_the_accounts_subscribers_elsewhere_to_resume(
    two: tuple[RedisBroker, RedisBroker],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = two
    affected, unaffected, local = (
        second.subscribe("acme"),
        second.subscribe("other"),
        first.subscribe("acme"),
    )
    reachable = first._publisher
    nowhere = Redis.from_url(f"redis://127.0.0.1:{_free_port()}/0", socket_connect_timeout=0.2)
    # given the first process cannot reach Redis for its publishes (its listener still can)
    monkeypatch.setattr(first, "_publisher", nowhere)
    started = time.monotonic()
    await first.publish([change("acme", "lost-1")])
    await first.publish([change("acme", "lost-2")])
    assert time.monotonic() - started < 1, "a failing publish returns promptly"
    failures = [r for r in caplog.records if "could not publish" in r.getMessage()]
    assert len(failures) == 1, "one line for the outage, not one per publish"
    # when Redis takes messages again
    monkeypatch.setattr(first, "_publisher", reachable)
    await nowhere.aclose()
    # then the account's subscribers in the other process are told to resume
    arrived: list[str] = []
    with pytest.raises(BrokerInterrupted, match="resume with after:"):
        await drain(affected, arrived, within=3)
    assert arrived == [], "the lost changes never arrive through Redis"
    # the local subscriber got both at once, and others' subscribers keep going
    assert await read_until(local, "lost-2") == ["lost-1", "lost-2"]
    await first.publish([change("other", "after")])
    assert await read_until(unaffected, "after") == ["after"]


# --- Redis stopped and started again -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A throwaway redis-server of this test's own, on a fixed port across restarts."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def pause(self) -> None:
        """Hung, as behind a dead network: connections stay open and nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
            self._process.kill()
            self._process.wait()
            self._process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server is required in CI (the restart tests start their own)")
        pytest.skip("redis-server is not installed; set CI=true to require it")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


async def _eventually(check: object, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await check()  # type: ignore[operator]
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_redis_restarted_mid_stream(
    private_redis: PrivateRedis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.live")
    first = process_broker(private_redis.url, prefix, 1000)
    second = process_broker(private_redis.url, prefix, 1000)
    await first.start()
    await second.start()
    try:
        before, during = second.subscribe("acme"), first.subscribe("acme")
        await first.publish([change("acme", "before")])
        assert await read_until(before, "before") == ["before"]

        # when Redis dies
        private_redis.kill()

        async def both_down() -> None:
            for broker in (first, second):
                with pytest.raises(BrokerUnavailable):
                    await broker.ping()

        await _eventually(both_down, within=3)
        # then writers are not held up and their own process's subscribers still get changes
        started = time.monotonic()
        await first.publish([change("acme", "while-down")])
        assert time.monotonic() - started < 1
        assert await read_until(during, "while-down") == ["before", "while-down"]
        await asyncio.sleep(1)  # several reconnect attempts, nothing crashes

        # when it comes back on the same port
        private_redis.start()
        started = time.monotonic()

        async def both_up() -> None:
            for broker in (first, second):
                try:
                    await broker.ping()
                except BrokerUnavailable as error:
                    raise AssertionError(str(error)) from None

        await _eventually(both_up, within=3)
        # then those who may have missed changes are told to resume
        for subscription in (before, during):
            with pytest.raises(BrokerInterrupted):
                await drain(subscription, [])
        # and delivery through Redis resumes for new subscribers
        await _eventually(lambda: _delivered(first, second), within=3)
        recovered = time.monotonic() - started
        assert recovered < 4
    finally:
        await first.close()
        await second.close()
    # one line per change of state for each broker, not one per attempt
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.live"]
    assert sum("lost" in line for line in lines) == 2, lines
    assert sum("again after" in line for line in lines) == 2, lines
    assert all("Traceback" not in line for line in lines)


async def test_a_silent_redis_is_noticed_by_ping_and_left(
    private_redis: PrivateRedis, prefix: str
) -> None:
    broker = RedisBroker(
        private_redis.url, channel_prefix=prefix, backoff_cap=0.3, keepalive=0.3, timeout=0.3
    )
    other = process_broker(private_redis.url, prefix, 1000)
    await broker.start()
    await other.start()
    try:
        waiting = broker.subscribe("acme")
        # when Redis stops answering without closing its connections
        private_redis.pause()

        async def down() -> None:
            with pytest.raises(BrokerUnavailable, match="not subscribed"):
                await broker.ping()

        await _eventually(down, within=3)
        private_redis.resume()
        # then the listener left the dead connection, and its subscriber is told to resume
        with pytest.raises(BrokerInterrupted):
            await drain(waiting, [], within=3)
        await _eventually(lambda: _delivered(other, broker), within=3)
    finally:
        await broker.close()
        await other.close()


async def _delivered(publisher: RedisBroker, subscriber: RedisBroker) -> None:
    """A change published by one reaches a new subscriber of the other."""
    subscription = subscriber.subscribe("acme")
    marker = uuid.uuid4().hex
    await publisher.publish([change("acme", marker)])
    try:
        async with asyncio.timeout(0.3):
            async for got in subscription:
                if got.object_id == marker:
                    return
    except (TimeoutError, BrokerInterrupted):  # a client would resume: try again
        raise AssertionError("not delivered yet") from None
    finally:
        subscription.close()


async def test_readyz_reports_the_broker(private_redis: PrivateRedis, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'ready.db'}"
    await upgrade_async(database_url)
    app = create_app(Settings(database_url=database_url, redis_url=private_redis.url))
    services = app.state.services
    assert isinstance(services.broker, RedisBroker)
    transport = httpx.ASGITransport(app=app)
    # the app's lifespan starts the broker (and closes it)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http,
    ):
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (
            200,
            {"status": "ok", "database": "ok", "broker": "ok"},
        )
        # when Redis goes away
        private_redis.kill()

        async def not_ready() -> None:
            response = await http.get("/readyz")
            assert (response.status_code, response.json()) == (
                503,
                {"status": "unavailable", "database": "ok", "broker": "unreachable"},
            )

        await _eventually(not_ready, within=3)
    assert services.broker.subscriber_count() == 0


async def test_two_gateways_on_one_redis_deliver_an_ingest_to_both_exactly_once(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    # given two gateway apps (as two processes) on one database and one Redis
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'two.db'}"
    await upgrade_async(database_url)
    apps = [
        create_app(Settings(database_url=database_url, redis_url=private_redis.url))
        for _ in range(2)
    ]
    first, second = (app.state.services for app in apps)
    key = await create_key(first.db, "acme", "ingest")
    async with (
        apps[0].router.lifespan_context(apps[0]),
        apps[1].router.lifespan_context(apps[1]),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=apps[0]),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {key}"},
        ) as ingest_first,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=apps[1]),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {key}"},
        ) as ingest_second,
    ):
        here, there = first.broker.subscribe("acme"), second.broker.subscribe("acme")
        # when a run starts through the first and then one through the second
        for http, run_id in ((ingest_first, "run-1"), (ingest_second, "run-2")):
            events = [
                e.flow(),
                e.integration(f"int-{run_id}"),
                e.run_started(run_id, f"int-{run_id}"),
            ]
            response = await http.post(
                "/graphql", json={"query": e.INGEST, "variables": {"events": events}}
            )
            assert response.json()["data"]["ingestEvents"]["accepted"] == 3, response.text
        # then both gateways' subscribers get each change once, whichever gateway took it
        for subscription in (here, there):
            assert await read_until(subscription, "run-2") == [
                "int-run-1",
                "run-1",
                "int-run-2",
                "run-2",
            ]


def test_several_workers_without_redis_refuse_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    port = _free_port()
    try:
        code = main(["serve", "--workers", "2", "--port", str(port)])
    finally:
        get_settings.cache_clear()
    assert code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gateway: error: --workers 2 needs GATEWAY_REDIS_URL"), lines
    assert not (tmp_path / "cli.db").exists(), "refused before touching the database"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # and before binding the port
