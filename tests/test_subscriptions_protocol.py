"""The WebSocket protocols' rules, origins, auth and limits, and that nothing is left behind:
a real uvicorn server on a fresh SQLite file (the rules do not depend on the backend)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout
from websockets.exceptions import InvalidStatus

from gateway.auth.authenticate import Authenticator
from gateway.auth.keys import Principal
from gateway.db.migrate import upgrade
from tests import events as e
from tests.test_subscriptions import (
    LEGACY_WS,
    RUNS,
    TRANSPORT_WS,
    WAIT,
    LiveServer,
    Socket,
    Tenant,
    open_socket,
    server_settings,
)

ALLOWED_ORIGIN = "https://dashboard.example.com"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ws') / 'gateway.db'}"
    upgrade(url)
    settings = server_settings(url, websocket_origins=[ALLOWED_ORIGIN])
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tenant(live: LiveServer) -> Tenant:
    return Tenant(live)


def error_of(message: dict[str, object], op_id: str) -> dict[str, object]:
    assert message["type"] == "error", message
    assert message["id"] == op_id, message
    payload = message["payload"]
    [error] = payload if isinstance(payload, list) else [payload]
    assert isinstance(error, dict)
    return error


def code_of(message: dict[str, object], op_id: str) -> object:
    extensions = error_of(message, op_id)["extensions"]
    assert isinstance(extensions, dict)
    return extensions["code"]


# --- graphql-transport-ws -----------------------------------------------------------------


def test_no_connection_init_in_time_closes_4408(live: LiveServer) -> None:
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        sock = open_socket(live, protocol)
        started = time.monotonic()
        assert sock.closed_with() == 4408
        assert time.monotonic() - started < WAIT


def test_subscribe_before_the_ack_closes_4401(live: LiveServer) -> None:
    for protocol in (TRANSPORT_WS, LEGACY_WS):
        sock = open_socket(live, protocol)
        sock.subscribe("1", RUNS)
        assert sock.closed_with() == 4401


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_a_missing_wrong_or_revoked_key_closes_4403(
    live: LiveServer, tenant: Tenant, protocol: str
) -> None:
    revoked = live.key(tenant.account_id)
    live.revoke(revoked)
    for key in (None, "gw_0000000000000000_nope", revoked):
        sock = open_socket(live, protocol)
        payload = {} if key is None else {"Authorization": f"Bearer {key}"}
        sock.send({"type": "connection_init", "payload": payload})
        if protocol == LEGACY_WS:
            message = sock.recv()
            assert message["type"] == "connection_error", message
            assert message["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
        assert sock.closed_with() == 4403


def test_the_key_may_come_as_the_upgrade_requests_header(live: LiveServer, tenant: Tenant) -> None:
    header = {"Authorization": f"Bearer {tenant.viewer}"}
    sock = open_socket(live, TRANSPORT_WS, additional_headers=header)
    sock.send({"type": "connection_init"})
    assert sock.recv() == {"type": "connection_ack"}
    sock.ws.close()


def test_a_duplicate_operation_id_closes_4409(live: LiveServer, tenant: Tenant) -> None:
    sock = tenant.socket()
    sock.subscribe("same", RUNS)
    sock.subscribe("same", RUNS)
    assert sock.closed_with() == 4409


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_a_second_connection_init_closes_4429(tenant: Tenant, protocol: str) -> None:
    sock = tenant.socket(protocol)
    sock.send({"type": "connection_init", "payload": {"Authorization": "Bearer other"}})
    assert sock.closed_with() == 4429


def test_ping_is_answered_and_a_pong_is_accepted(tenant: Tenant) -> None:
    sock = tenant.socket()
    sock.send({"type": "pong"})  # an unasked pong (a heartbeat) changes nothing
    sock.send({"type": "ping", "payload": {"at": 1}})
    assert sock.recv() == {"type": "pong"}
    sock.ws.close()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize(
    "raw",
    [
        "[1, 2]",
        '"text"',
        '{"no": "type"}',
        '{"type": "subscribe", "id": "1", "payload": "query"}',
        '{"type": "start", "id": "1", "payload": "query"}',
    ],
)
def test_a_malformed_message_closes_4400(tenant: Tenant, protocol: str, raw: str) -> None:
    sock = tenant.socket(protocol)
    sock.ws.send(raw.replace('"subscribe"', '"start"') if protocol == LEGACY_WS else raw)
    assert sock.closed_with() == 4400


def test_legacy_protocol_sends_keep_alives_after_the_ack(live: LiveServer, tenant: Tenant) -> None:
    sock = open_socket(live, LEGACY_WS)
    sock.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {tenant.viewer}"}})
    assert json.loads(sock.ws.recv(timeout=WAIT)) == {"type": "connection_ack"}
    assert json.loads(sock.ws.recv(timeout=WAIT)) == {"type": "ka"}
    sock.ws.close()


# --- what an operation may be -------------------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_only_viewer_and_admin_keys_may_subscribe(
    live: LiveServer, tenant: Tenant, protocol: str
) -> None:
    ingest = open_socket(live, protocol)
    assert ingest.init(tenant.ingester)["type"] == "connection_ack"
    ingest.subscribe("1", RUNS)
    assert code_of(ingest.recv(), "1") == "FORBIDDEN"
    admin = open_socket(live, protocol)
    assert admin.init(live.key(tenant.account_id, "admin"))["type"] == "connection_ack"
    admin.subscribe("1", RUNS)
    tenant.following(1)
    ingest.ws.close()
    admin.ws.close()


def test_queries_and_invalid_documents_are_refused_with_a_code(tenant: Tenant) -> None:
    sock = tenant.socket()
    sock.subscribe("query", "{ viewer { accountId } }")
    assert code_of(sock.recv(), "query") == "BAD_USER_INPUT"
    sock.subscribe("invalid", "subscription { runStatusChanged { nope } }")
    assert code_of(sock.recv(), "invalid") == "BAD_USER_INPUT"
    sock.subscribe("too-long", RUNS, flowId="f" * 200)
    assert code_of(sock.recv(), "too-long") == "BAD_USER_INPUT"
    sock.ws.close()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_past_the_operation_limit_that_operation_gets_an_error(
    tenant: Tenant, live: LiveServer, protocol: str
) -> None:
    limit = live.settings.max_subscriptions_per_connection
    assert limit == 100  # the default
    tenant.ingest(e.flow(), e.integration("int-1"))
    sock = tenant.socket(protocol)
    for n in range(limit):
        sock.subscribe(f"op-{n}", RUNS)
    tenant.following(limit)
    sock.subscribe("one-too-many", RUNS)
    message = sock.recv()
    assert code_of(message, "one-too-many") == "RATE_LIMITED"
    assert "GATEWAY_MAX_SUBSCRIPTIONS_PER_CONNECTION" in str(error_of(message, "one-too-many"))
    # The others go on
    tenant.ingest(e.run_started("run-1", "int-1", 10))
    assert len(sock.events_by_op(limit)) == limit
    sock.ws.close()


# --- origins ------------------------------------------------------------------------------


def test_origins_other_than_the_own_and_the_allowed_are_refused(
    live: LiveServer, tenant: Tenant
) -> None:
    # A page of another site may not open a socket (403 on the upgrade)
    with pytest.raises(InvalidStatus) as refused:
        open_socket(live, TRANSPORT_WS, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    # The server's own origin, an allowed one, and no Origin (not a browser) are accepted
    own = f"http://127.0.0.1:{live.port}"
    for origin in (own, ALLOWED_ORIGIN, None):
        sock = open_socket(live, TRANSPORT_WS, origin=origin)
        assert sock.init(tenant.viewer) == {"type": "connection_ack"}
        sock.ws.close()


# --- no leaks -----------------------------------------------------------------------------


def test_a_thousand_subscriptions_leave_no_subscriber_and_no_task(
    tenant: Tenant, live: LiveServer
) -> None:
    tenant.ingest(e.flow(), e.integration("int-1"))
    warm = tenant.socket()  # lazily started tasks of the server are in the baseline
    warm.subscribe("w", RUNS)
    tenant.following(1)
    warm.ws.close()
    tenant.following(0)
    time.sleep(0.1)
    baseline = live.tasks()
    # When 10 connections open 100 subscriptions each; the client completes half of them,
    # the rest end with their socket
    for round_ in range(10):
        sock: Socket = tenant.socket(LEGACY_WS if round_ % 2 else TRANSPORT_WS)
        for n in range(100):
            sock.subscribe(f"op-{n}", RUNS, integrationId="int-1")
        tenant.following(100)
        for n in range(0, 100, 2):
            sock.complete(f"op-{n}")
        tenant.following(50)
        sock.ws.close()
    # Then the broker has no subscriber left and no task is left behind
    tenant.following(0)
    deadline = time.monotonic() + WAIT
    while live.tasks() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    assert live.tasks() <= baseline
    assert live.subscribers() == 0


def test_a_stopping_server_ends_its_subscriptions(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stop.db'}"
    upgrade(url)
    server = LiveServer(server_settings(url)).start()
    tenant = Tenant(server)
    sock = tenant.socket()
    sock.subscribe("runs", RUNS)
    tenant.following(1)
    server.stop()
    assert not server.thread.is_alive()
    assert server.error is None
    assert server.svc.broker.subscriber_count() == 0  # type: ignore[attr-defined]
    assert sock.closed_with() in (1001, 1012)


def test_the_server_pings_too(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.http import websocket

    monkeypatch.setattr(websocket, "KEEP_ALIVE_SECONDS", 0.05)
    sock = tenant.socket()
    assert sock.recv() == {"type": "ping"}
    sock.send({"type": "pong"})
    assert sock.recv() == {"type": "ping"}
    sock.ws.close()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_a_message_over_the_body_limit_closes_1009(
    live: LiveServer, tenant: Tenant, protocol: str
) -> None:
    sock = tenant.socket(protocol)
    huge = {"flowId": "x" * live.settings.max_body_bytes}
    sock.subscribe("1", RUNS, **huge)
    assert sock.closed_with() == 1009


def test_expected_errors_are_one_log_line_each(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    sock = tenant.socket()
    sock.subscribe("bad-cursor", RUNS, after="nope")
    assert code_of(sock.recv(), "bad-cursor") == "BAD_USER_INPUT"
    sock.subscribe("query", "{ viewer { accountId } }")
    assert code_of(sock.recv(), "query") == "BAD_USER_INPUT"
    sock.ws.close()
    bad = open_socket(tenant.server, TRANSPORT_WS)
    bad.send({"type": "connection_init", "payload": {"Authorization": "Bearer gw_0_wrong"}})
    assert bad.closed_with() == 4403
    lines = [r for r in caplog.records if r.name.startswith("gateway")]
    coded = [r.getMessage() for r in lines if "BAD_USER_INPUT" in r.getMessage()]
    assert len(coded) == 2, [r.getMessage() for r in lines]
    assert any("UNAUTHENTICATED" in r.getMessage() for r in lines)
    assert all(r.exc_info is None for r in lines)
    assert all("nope" not in r.getMessage() for r in lines)  # the client's input is not logged


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize(
    ("failure", "code"),
    [(PoolTimeout("QueuePool limit reached"), 1013), (RuntimeError("a bug"), 1011)],
)
def test_a_key_that_cannot_be_checked_closes_with_a_reason_not_4403(
    live: LiveServer,
    protocol: str,
    failure: Exception,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def unreachable(self: Authenticator, key_hash: str) -> None:
        raise failure

    monkeypatch.setattr(Authenticator, "_read", unreachable)
    caplog.set_level(logging.INFO, logger="gateway")
    sock = open_socket(live, protocol)
    sock.send({"type": "connection_init", "payload": {"Authorization": "Bearer gw_1_unseen"}})
    assert sock.closed_with() == code
    [line] = [r for r in caplog.records if "connection_init" in r.getMessage()]
    assert (line.exc_info is not None) == (code == 1011)


async def test_concurrent_checks_of_one_key_share_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = 0

    async def read(self: Authenticator, key_hash: str) -> Principal:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        return Principal("acct", "viewer", "key-1", "k")

    monkeypatch.setattr(Authenticator, "_read", read)
    authenticator = Authenticator(cast(Any, None))
    got = await asyncio.gather(*(authenticator.principal("Bearer gw_1_x") for _ in range(500)))
    assert {p.key_id for p in got} == {"key-1"}
    assert reads == 1


# --- rate limits ---------------------------------------------------------------------------


def test_a_subscription_is_charged_once_when_it_starts(
    live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    # given a key with a budget of two points an hour
    from gateway.auth.keys import create_key

    key = live.call(lambda: create_key(live.svc.db, "acct-rate", "viewer", points_per_hour=2))
    sock = open_socket(live, TRANSPORT_WS)
    assert sock.init(key) == {"type": "connection_ack"}
    # when it starts three subscriptions, then the third is refused
    for op_id in ("1", "2", "3"):
        sock.subscribe(op_id, RUNS)
    assert code_of(sock.recv(), "3") == "RATE_LIMITED"
    live.wait_subscribers("acct-rate", 2)  # the first two run on
    # and each logs one line when it ends, with its cost
    sock.complete("1")
    live.wait_subscribers("acct-rate", 1)
    deadline = time.monotonic() + WAIT
    while not (lines := [r for r in caplog.records if r.name == "gateway.request"]):
        assert time.monotonic() < deadline, "no log line for the subscription"
        time.sleep(0.01)
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert (fields["kind"], fields["account"], fields["cost"]) == ("subscription", "acct-rate", 1)
