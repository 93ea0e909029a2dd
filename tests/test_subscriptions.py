"""Subscriptions end to end: a real uvicorn server on each backend, plain WebSocket clients.

The server runs in a thread with its own event loop (``LiveServer``); keys, revocations and
checks of the broker run on that loop through ``LiveServer.call``. Clients are the
``websockets`` package's synchronous client speaking graphql-transport-ws (``Socket``) or the
legacy graphql-ws protocol. Changes are made through the real ingest and admin mutations.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db import accounts
from gateway.live.changes import Change
from gateway.services import Services
from tests import events as e

T = TypeVar("T")
TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
WAIT = 5.0

RUNS = """
subscription($flowId: String, $integrationId: String, $status: [RunStatus!], $after: String) {
  runStatusChanged(flowId: $flowId, integrationId: $integrationId, status: $status,
                   after: $after) {
    cursor previousStatus status occurredAt
    run { runId status integration { integrationId } }
  }
}
"""
STEPS = """
subscription($runId: String!, $after: String) {
  stepStatusChanged(runId: $runId, after: $after) {
    cursor previousStatus status occurredAt step { stepId status run { runId } }
  }
}
"""
INTEGRATIONS = """
subscription($flowId: String, $after: String) {
  integrationStatusChanged(flowId: $flowId, after: $after) {
    cursor previousStatus status reason occurredAt integration { integrationId status }
  }
}
"""


class LiveServer:
    """uvicorn in a background thread on a free port, serving ``create_app(settings)``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.error: BaseException | None = None
        self.server: uvicorn.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.services: Services | None = None
        self.thread = threading.Thread(target=self._run, name="live-uvicorn", daemon=True)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start()
            self.error = error

    async def _serve(self) -> None:
        app = create_app(self.settings)
        self.services = app.state.services
        self.loop = asyncio.get_running_loop()
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="auto")
        self.server = uvicorn.Server(config)
        await self.server.serve(sockets=[self.sock])

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"the server did not start: {self.error!r}")
            if self.server is not None and self.server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("the server did not start within 30 s")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Runs ``make()`` on the server's loop and returns its result."""
        assert self.loop is not None

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    @property
    def svc(self) -> Services:
        assert self.services is not None
        return self.services

    def key(self, account_id: str, role: str = "viewer") -> str:
        return self.call(lambda: create_key(self.svc.db, account_id, role))

    def revoke(self, key: str) -> None:
        key_id = key.split("_")[1]

        async def revoke() -> None:
            async with self.svc.db.transaction() as conn:
                assert await accounts.revoke_key(conn, key_id)

        self.call(revoke)

    def subscribers(self, account_id: str | None = None) -> int:
        async def count() -> int:
            broker: Any = self.svc.broker
            if account_id is None:
                return int(broker.subscriber_count())
            return len(broker._subscribers.get(account_id, ()))

        return self.call(count)

    def wait_subscribers(self, account_id: str | None, count: int) -> None:
        deadline = time.monotonic() + WAIT
        while self.subscribers(account_id) != count:
            assert time.monotonic() < deadline, (
                f"{self.subscribers(account_id)} broker subscribers, expected {count}"
            )
            time.sleep(0.01)

    def tasks(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks())

        return self.call(count)

    def ingest(self, key: str, *events: dict[str, Any]) -> None:
        response = httpx.post(
            self.http_url,
            json={"query": e.INGEST, "variables": {"events": list(events)}},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        result = response.json()
        assert "errors" not in result, result
        assert result["data"]["ingestEvents"]["rejected"] == [], result

    def mutate(self, key: str, query: str) -> dict[str, Any]:
        response = httpx.post(
            self.http_url, json={"query": query}, headers={"Authorization": f"Bearer {key}"}
        )
        result: dict[str, Any] = response.json()
        assert "errors" not in result, result
        return result


class Socket:
    """One WebSocket connection speaking graphql-transport-ws (or, with ``legacy``, the
    graphql-ws protocol's message names)."""

    def __init__(self, ws: ClientConnection, legacy: bool = False) -> None:
        self.ws = ws
        self.legacy = legacy

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def recv(self, timeout: float = WAIT) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
            if message.get("type") != "ka":  # legacy keep-alives
                return message

    def init(self, key: str | None) -> dict[str, Any]:
        payload = {} if key is None else {"Authorization": f"Bearer {key}"}
        self.send({"type": "connection_init", "payload": payload})
        return self.recv()

    def subscribe(self, op_id: str, query: str, **variables: Any) -> None:
        kind = "start" if self.legacy else "subscribe"
        payload = {"query": query, "variables": variables}
        self.send({"type": kind, "id": op_id, "payload": payload})

    def complete(self, op_id: str) -> None:
        self.send({"type": "stop" if self.legacy else "complete", "id": op_id})

    def events(self, op_id: str, count: int) -> list[dict[str, Any]]:
        """The data of the next ``count`` messages, which must be events of ``op_id``."""
        kind = "data" if self.legacy else "next"
        found = []
        for _ in range(count):
            message = self.recv()
            assert message.get("id") == op_id, message
            assert message["type"] == kind, message
            assert "errors" not in message["payload"], message
            [value] = message["payload"]["data"].values()
            found.append(value)
        return found

    def events_by_op(self, count: int) -> dict[str, list[dict[str, Any]]]:
        """The next ``count`` events, by operation (operations are not ordered between them)."""
        kind = "data" if self.legacy else "next"
        found: dict[str, list[dict[str, Any]]] = {}
        for _ in range(count):
            message = self.recv()
            assert message["type"] == kind, message
            assert "errors" not in message["payload"], message
            [value] = message["payload"]["data"].values()
            found.setdefault(message["id"], []).append(value)
        return found

    def closed_with(self, timeout: float = WAIT) -> int:
        """Waits for the server to close the socket; its close code."""
        def read_until_closed() -> None:
            while True:
                self.ws.recv(timeout=timeout)

        with pytest.raises(ConnectionClosed) as closed:
            read_until_closed()
        assert closed.value.rcvd is not None, "closed without a close frame"
        return closed.value.rcvd.code

    def quiet(self, seconds: float = 0.3) -> None:
        """Nothing arrives for ``seconds``."""
        try:
            message = self.recv(timeout=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")


def open_socket(
    server: LiveServer, protocol: str = TRANSPORT_WS, **options: Any
) -> Socket:
    # max_queue=None: a test that does not read every message still closes at once.
    options = {"proxy": None, "legacy": True, "max_queue": None, **options}
    ws = connect(server.ws_url, subprotocols=[protocol], **options)  # type: ignore[list-item]
    return Socket(ws, legacy=protocol == LEGACY_WS)


def server_settings(database_url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        key_cache_seconds=0.0,
        websocket_init_timeout_seconds=0.5,
        graphiql=False,
        console=False,
        **extra,
    )


@pytest.fixture(scope="module")
def live(database_url: str) -> Iterator[LiveServer]:
    """One server per backend for this module's tests (each test has its own accounts)."""
    server = LiveServer(server_settings(database_url)).start()
    try:
        yield server
    finally:
        server.stop()


class Tenant:
    """An account with a viewer and an ingest key on the live server."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.account_id = f"acct-{uuid.uuid4().hex[:10]}"
        self.viewer = server.key(self.account_id, "viewer")
        self.ingester = server.key(self.account_id, "ingest")

    def ingest(self, *events: dict[str, Any]) -> None:
        self.server.ingest(self.ingester, *events)

    def socket(self, protocol: str = TRANSPORT_WS) -> Socket:
        sock = open_socket(self.server, protocol)
        assert sock.init(self.viewer) == {"type": "connection_ack"}
        return sock

    def following(self, count: int = 1) -> None:
        self.server.wait_subscribers(self.account_id, count)


@pytest.fixture
def tenant(live: LiveServer) -> Tenant:
    return Tenant(live)


def run_of(event: dict[str, Any]) -> tuple[str, str | None, str, str]:
    run = event["run"]
    return (run["runId"], event["previousStatus"], event["status"], run["status"])


# --- events, fresh data ------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_run_events_carry_the_change_and_the_run_as_it_is_now(
    tenant: Tenant, protocol: str
) -> None:
    # Given a subscriber of the account's runs
    tenant.ingest(e.flow(), e.integration("int-1"))
    sock = tenant.socket(protocol)
    sock.subscribe("runs", RUNS)
    tenant.following()
    # When a run starts, and later finishes
    tenant.ingest(e.run_started("run-1", "int-1", 10))
    [started] = sock.events("runs", 1)
    tenant.ingest(e.run_finished("run-1", "FAILED", 20))
    [finished] = sock.events("runs", 1)
    # Then each event has the change, and the run loaded for that event (not cached from the
    # first: the second shows the run FAILED)
    assert run_of(started) == ("run-1", None, "RUNNING", "RUNNING")
    assert run_of(finished) == ("run-1", "RUNNING", "FAILED", "FAILED")
    assert started["run"]["integration"] == {"integrationId": "int-1"}
    assert started["occurredAt"] == e.at(10)
    assert finished["occurredAt"] == e.at(20)
    assert started["cursor"] != finished["cursor"]
    # When the client completes the operation, it ends on the server too
    sock.complete("runs")
    if protocol == LEGACY_WS:
        assert sock.recv() == {"type": "complete", "id": "runs"}
    tenant.following(0)
    sock.ws.close()


def test_step_and_integration_events(tenant: Tenant, live: LiveServer) -> None:
    admin = live.key(tenant.account_id, "admin")
    tenant.ingest(e.flow(), e.integration("int-1"), e.run_started("run-1", "int-1", 10))
    sock = tenant.socket()
    sock.subscribe("steps", STEPS, runId="run-1")
    sock.subscribe("integrations", INTEGRATIONS)
    tenant.following(2)
    tenant.ingest(e.step_finished("s1", "run-1", 0, 11, 12, status="FAILED", code=500))
    [step] = sock.events("steps", 1)
    assert step["step"] == {"stepId": "s1", "status": "FAILED", "run": {"runId": "run-1"}}
    assert (step["previousStatus"], step["status"]) == (None, "FAILED")
    live.mutate(admin, 'mutation { disableIntegration(integrationId: "int-1") { status } }')
    [disabled] = sock.events("integrations", 1)
    assert disabled["integration"] == {"integrationId": "int-1", "status": "DISABLED"}
    assert (disabled["previousStatus"], disabled["status"], disabled["reason"]) == (
        "ENABLED",
        "DISABLED",
        None,
    )
    sock.ws.close()
    tenant.following(0)


def test_auto_pause_event_has_its_reason(tenant: Tenant, live: LiveServer) -> None:
    admin = live.key(tenant.account_id, "admin")
    live.mutate(admin, "mutation { setAccountSettings(autoPauseAfterFailures: 1) { accountId } }")
    tenant.ingest(e.flow(), e.integration("int-1"))
    sock = tenant.socket()
    sock.subscribe("integrations", INTEGRATIONS)
    tenant.following()
    tenant.ingest(e.run_started("run-1", "int-1", 10), e.run_finished("run-1", "FAILED", 13))
    [paused] = sock.events("integrations", 1)
    assert (paused["status"], paused["reason"]) == ("PAUSED", "TOO_MANY_ERRORS")
    sock.ws.close()


# --- filters --------------------------------------------------------------------------------


def _two_flows(tenant: Tenant) -> None:
    tenant.ingest(
        e.flow("flow-a"),
        e.flow("flow-b"),
        e.integration("int-a1", "flow-a"),
        e.integration("int-a2", "flow-a"),
        e.integration("int-b1", "flow-b"),
    )


def test_run_filters_by_flow_integration_and_status(tenant: Tenant) -> None:
    _two_flows(tenant)
    sock = tenant.socket()
    sock.subscribe("flow", RUNS, flowId="flow-a")
    sock.subscribe("integration", RUNS, integrationId="int-a2")
    sock.subscribe("failed", RUNS, status=["FAILED"])
    sock.subscribe("ok-or-failed-of-a1", RUNS, integrationId="int-a1", status=["OK", "FAILED"])
    sock.subscribe("any", RUNS, status=[])
    tenant.following(5)
    tenant.ingest(
        e.run_started("r-b1", "int-b1", 10),
        e.run_started("r-a1", "int-a1", 11),
        e.run_started("r-a2", "int-a2", 12),
        e.run_finished("r-b1", "FAILED", 13),
        e.run_finished("r-a1", "OK", 14),
        e.run_finished("r-a2", "FAILED", 15),
    )
    expected = {
        "flow": [("r-a1", "RUNNING"), ("r-a2", "RUNNING"), ("r-a1", "OK"), ("r-a2", "FAILED")],
        "integration": [("r-a2", "RUNNING"), ("r-a2", "FAILED")],
        "failed": [("r-b1", "FAILED"), ("r-a2", "FAILED")],
        "ok-or-failed-of-a1": [("r-a1", "OK")],
        "any": [
            ("r-b1", "RUNNING"),
            ("r-a1", "RUNNING"),
            ("r-a2", "RUNNING"),
            ("r-b1", "FAILED"),
            ("r-a1", "OK"),
            ("r-a2", "FAILED"),
        ],
    }
    got = sock.events_by_op(sum(len(v) for v in expected.values()))
    assert {
        op: [(ev["run"]["runId"], ev["status"]) for ev in events] for op, events in got.items()
    } == expected
    sock.quiet()
    sock.ws.close()


def test_step_filter_by_run_and_integration_filter_by_flow(tenant: Tenant) -> None:
    _two_flows(tenant)
    tenant.ingest(e.run_started("r-a1", "int-a1", 10), e.run_started("r-b1", "int-b1", 10))
    sock = tenant.socket()
    sock.subscribe("steps", STEPS, runId="r-a1")
    sock.subscribe("integrations", INTEGRATIONS, flowId="flow-b")
    tenant.following(2)
    tenant.ingest(
        e.step_finished("s-b", "r-b1", 0, 11, 12),
        e.step_finished("s-a", "r-a1", 0, 11, 12),
        e.integration("int-a3", "flow-a", t=20),
        e.integration("int-b2", "flow-b", t=21),
    )
    got = sock.events_by_op(2)
    [step], [integration] = got["steps"], got["integrations"]
    assert step["step"]["stepId"] == "s-a"
    assert integration["integration"]["integrationId"] == "int-b2"
    assert integration["previousStatus"] is None
    sock.quiet()
    sock.ws.close()


# --- tenants ------------------------------------------------------------------------------


def test_a_subscriber_gets_nothing_of_another_account_with_the_same_ids(live: LiveServer) -> None:
    a, b = Tenant(live), Tenant(live)
    for tenant in (a, b):
        tenant.ingest(e.flow(), e.integration("int-1"), e.run_started("run-1", "int-1", 10))
    sock = b.socket()
    sock.subscribe("runs", RUNS, flowId="flow-1", integrationId="int-1")
    sock.subscribe("steps", STEPS, runId="run-1")
    sock.subscribe("integrations", INTEGRATIONS, flowId="flow-1")
    b.following(3)
    # When account A's run, step and integration change
    a.ingest(
        e.step_finished("s1", "run-1", 0, 11, 12, status="FAILED"),
        e.run_finished("run-1", "FAILED", 13),
        e.integration("int-2", t=20),
    )
    # Then B receives nothing; its own change is the first thing it gets
    sock.quiet()
    b.ingest(e.run_finished("run-1", "OK", 14))
    [event] = sock.events("runs", 1)
    assert run_of(event) == ("run-1", "RUNNING", "OK", "OK")
    sock.quiet()
    sock.ws.close()


# --- resume ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_resume_after_a_cursor_misses_nothing_and_repeats_nothing(
    tenant: Tenant, protocol: str
) -> None:
    tenant.ingest(e.flow(), e.integration("int-1"))
    sock = tenant.socket(protocol)
    sock.subscribe("runs", RUNS, integrationId="int-1")
    tenant.following()
    tenant.ingest(e.run_started("run-1", "int-1", 10), e.run_started("run-2", "int-1", 11))
    first = sock.events("runs", 2)
    # When the client drops, changes happen meanwhile (some not matching), and it resumes
    sock.ws.close()
    tenant.following(0)
    tenant.ingest(
        e.integration("int-2", t=12),
        e.run_started("run-x", "int-2", 12),
        e.run_finished("run-1", "OK", 13),
        e.run_finished("run-2", "FAILED", 14),
    )
    again = tenant.socket(protocol)
    again.subscribe("runs", RUNS, integrationId="int-1", after=first[-1]["cursor"])
    replayed = again.events("runs", 2)
    tenant.ingest(e.run_started("run-3", "int-1", 15))
    [live_event] = again.events("runs", 1)
    # Then it gets the missed changes in order, then live ones, each once
    assert [(ev["run"]["runId"], ev["status"]) for ev in first + replayed + [live_event]] == [
        ("run-1", "RUNNING"),
        ("run-2", "RUNNING"),
        ("run-1", "OK"),
        ("run-2", "FAILED"),
        ("run-3", "RUNNING"),
    ]
    cursors = [ev["cursor"] for ev in first + replayed + [live_event]]
    assert len(set(cursors)) == len(cursors)
    again.quiet()
    # And resuming from the last cursor replays nothing
    again.subscribe("again", RUNS, integrationId="int-1", after=live_event["cursor"])
    again.quiet()
    again.ws.close()


def test_bad_and_foreign_cursors_are_bad_user_input(tenant: Tenant, live: LiveServer) -> None:
    sock = tenant.socket()
    page_cursor = "WzEsIkNSRUFURURfQVQiLG51bGwsImEiXQ"  # a list cursor, not an event's
    for op_id, after in (("garbage", "not a cursor"), ("page", page_cursor)):
        sock.subscribe(op_id, RUNS, after=after)
        message = sock.recv()
        assert (message["type"], message["id"]) == ("error", op_id), message
        [error] = message["payload"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "cursor" in error["message"]
    # A cursor past this account's log (another account's, further along) is refused too
    other = Tenant(live)
    other.ingest(e.flow(), e.integration("int-1"), e.integration("int-2", t=2))
    other_sock = other.socket()
    other_sock.subscribe("x", INTEGRATIONS)
    other.following()
    other.ingest(e.integration("int-3", t=3))
    [event] = other_sock.events("x", 1)
    sock.subscribe("foreign", INTEGRATIONS, after=event["cursor"])
    message = sock.recv()
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "re-read the view" in message["payload"][0]["message"]
    assert tenant.server.subscribers(tenant.account_id) == 0
    sock.ws.close()
    other_sock.ws.close()


# --- what ends a subscription ------------------------------------------------------------


def test_a_revoked_key_stops_receiving(tenant: Tenant, live: LiveServer) -> None:
    tenant.ingest(e.flow(), e.integration("int-1"))
    sock = tenant.socket()
    sock.subscribe("runs", RUNS)
    tenant.following()
    tenant.ingest(e.run_started("run-1", "int-1", 10))
    sock.events("runs", 1)
    # When the key is revoked, the next change ends the subscription with UNAUTHENTICATED
    live.revoke(tenant.viewer)
    tenant.ingest(e.run_finished("run-1", "OK", 11))
    message = sock.recv()
    assert message["type"] == "next", message
    assert message["payload"]["data"] is None, message
    [error] = message["payload"]["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert sock.recv() == {"id": "runs", "type": "complete"}
    tenant.following(0)
    # And a new subscription on the same socket is refused
    sock.subscribe("again", RUNS)
    message = sock.recv()
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    sock.ws.close()


def test_a_broker_drop_ends_the_subscription_and_resuming_misses_nothing(
    tenant: Tenant, live: LiveServer
) -> None:
    from gateway.live.broker import SubscriberTooSlow

    tenant.ingest(e.flow(), e.integration("int-1"))
    sock = tenant.socket()
    sock.subscribe("runs", RUNS)
    tenant.following()
    tenant.ingest(e.run_started("run-1", "int-1", 10))
    [event] = sock.events("runs", 1)

    async def drop() -> int:
        broker: Any = live.svc.broker
        return int(broker.drop(SubscriberTooSlow("Too slow."), [tenant.account_id]))

    assert live.call(drop) == 1
    message = sock.recv()
    [error] = message["payload"]["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["lastCursor"] == event["cursor"]
    assert "after:" in error["message"]
    assert sock.recv() == {"id": "runs", "type": "complete"}
    tenant.following(0)
    # When changes happen before the client resumes with the last cursor, it gets each once
    tenant.ingest(e.run_finished("run-1", "OK", 11), e.run_started("run-2", "int-1", 12))
    sock.subscribe("resumed", RUNS, after=error["extensions"]["lastCursor"])
    resumed = sock.events("resumed", 2)
    assert [run_of(ev) for ev in resumed] == [
        ("run-1", "RUNNING", "OK", "OK"),
        ("run-2", None, "RUNNING", "RUNNING"),
    ]
    sock.quiet()
    sock.ws.close()


def test_a_rolled_back_write_publishes_nothing(tenant: Tenant, live: LiveServer) -> None:
    tenant.ingest(e.flow(), e.integration("int-1"), e.run_started("run-1", "int-1", 10))
    sock = tenant.socket()
    sock.subscribe("runs", RUNS)
    tenant.following()
    change = Change(tenant.account_id, "run", "run-1", "OK", "RUNNING", e.T0, run_id="run-1")

    async def rolled_back() -> None:
        async with live.svc.db.write(tenant.account_id) as uow:
            uow.record(change)
            raise RuntimeError("the transaction fails")

    with pytest.raises(RuntimeError, match="the transaction fails"):
        live.call(rolled_back)
    sock.quiet()
    tenant.ingest(e.run_finished("run-1", "FAILED", 11))
    [event] = sock.events("runs", 1)
    assert run_of(event) == ("run-1", "RUNNING", "FAILED", "FAILED")
    sock.ws.close()
