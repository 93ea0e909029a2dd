"""Graceful shutdown: a real ``gateway serve`` process stopped with SIGTERM under load."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gateway.app import create_app
from gateway.config import Settings
from gateway.services import Services
from tests.test_cli import GATEWAY, _env, _free_port, _run

QUERY = {"query": "query Viewer { viewer { accountId } }"}


def _serve(tmp_path: Path, port: int, log: Any) -> subprocess.Popen[str]:
    """``gateway serve``, its log to a file (a pipe nobody reads while it runs would fill up
    and block the server)."""
    env = {
        **_env(tmp_path),
        "GATEWAY_LOG_FORMAT": "json",
        "GATEWAY_SHUTDOWN_GRACE_SECONDS": "15",
        "GATEWAY_RATE_LIMITS": "false",  # one key drives the whole load
    }
    return subprocess.Popen(
        [*GATEWAY, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def _wait_healthy(proc: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail("serve did not come up")


def _subscribe(stack: ExitStack, port: int, key: str, n: int) -> ClientConnection:
    url = f"ws://127.0.0.1:{port}/graphql"
    ws = stack.enter_context(connect(url, subprotocols=["graphql-transport-ws"]))  # type: ignore[list-item]
    ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
    assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
    subscription = "subscription { runStatusChanged { status } }"
    ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": subscription}}))
    return ws


class Load:
    """Threads posting queries one connection each, until told to stop: each request's id
    and what came of it (an HTTP status, or the exception's name)."""

    def __init__(self, base: str, key: str, threads: int = 4) -> None:
        self.base, self.key = base, key
        self.outcomes: dict[str, Any] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop) for _ in range(threads)]
        self.lock = threading.Lock()

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def post(
        self, request_id: str, content: Any = None, client: httpx.Client | None = None
    ) -> None:
        headers = {
            "Authorization": f"Bearer {self.key}",
            "X-Request-Id": request_id,
            "Content-Type": "application/json",
        }
        try:
            response = (client or httpx).post(
                f"{self.base}/graphql",
                content=content if content is not None else json.dumps(QUERY),
                headers=headers,
                timeout=30,
            )
            outcome: Any = response.status_code
            if response.status_code == 200 and "errors" in response.json():
                outcome = "errors"
        except httpx.HTTPError as error:
            outcome = type(error).__name__
            time.sleep(0.01)  # refused: the server has stopped listening
        with self.lock:
            self.outcomes[request_id] = outcome

    def _loop(self) -> None:
        # a connection per request: none is idle when the server closes its connections
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not self.stop.is_set():
                self.post(f"load-{uuid.uuid4().hex}", client=client)


def _slowly(chunks: int, pause: float) -> Iterator[bytes]:
    """A query body sent over ``chunks * pause`` seconds: a request in flight meanwhile."""
    yield b'{"query": "query Viewer { viewer { accountId } }"'
    for _ in range(chunks):
        time.sleep(pause)
        yield b" " * 64
    yield b"}"


def test_sigterm_under_load_loses_no_accepted_request(tmp_path: Path) -> None:
    # given a server with subscribers, steady queries and two slow requests in flight
    created = _run(tmp_path, "keys", "create", "--account", "acme", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        proc = _serve(tmp_path, port, log_file)
    try:
        _wait_healthy(proc, base)
        with ExitStack() as stack, Load(base, key) as load:
            sockets = [_subscribe(stack, port, key, n) for n in range(2)]
            slow = [
                threading.Thread(target=load.post, args=(f"slow-{n}", _slowly(12, 0.25)))
                for n in range(2)
            ]
            for thread in slow:
                thread.start()
            time.sleep(1.0)  # the load runs and the slow bodies are on their way

            # when the server is told to stop
            proc.send_signal(signal.SIGTERM)
            closes = []
            for ws in sockets:
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
                closes.append(closed.value.rcvd.code if closed.value.rcvd else None)
            for thread in slow:
                thread.join(timeout=30)
            code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    log = log_path.read_text()

    # then it exits 0, having closed the WebSockets with 1001 ...
    assert code == 0, log
    assert closes == [1001, 1001]
    # ... and every request it accepted was answered in full
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    accepted = {
        line["requestId"]
        for line in lines
        if line["logger"] == "gateway.request" and line.get("method") == "POST"
    }
    outcomes = load.outcomes
    assert {"slow-0", "slow-1"} <= accepted
    assert outcomes["slow-0"] == outcomes["slow-1"] == 200
    failed_accepted = {rid: outcomes[rid] for rid in accepted if outcomes.get(rid) != 200}
    assert not failed_accepted
    assert len(accepted) > 20, "the load did run"
    # requests that failed were never accepted (refused once the server stopped listening)
    assert all(rid not in accepted for rid, outcome in outcomes.items() if outcome != 200)
    assert any(line["message"].startswith("received SIGTERM") for line in lines)
    assert not [line for line in lines if line["level"] in ("error", "critical")], log
    # the subscriptions logged their end
    assert [line.get("kind") for line in lines].count("subscription") == 2


async def test_workers_wind_down_through_hooks(settings: Settings) -> None:
    # given an app whose parts registered drain and close hooks
    app = create_app(settings)
    services: Services = app.state.services
    calls: list[str] = []

    async def stop_claiming() -> None:
        calls.append("drain")

    async def release_claims() -> None:
        await services.db.ping()  # the database is still open
        calls.append("close")

    async def broken() -> None:
        raise RuntimeError("a hook that fails")

    services.lifecycle.on_drain(stop_claiming)
    services.lifecycle.on_close(broken)
    services.lifecycle.on_close(release_claims)
    # when the server serves and then stops
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            assert (await client.get("/readyz")).status_code == 200
        assert calls == []
    # then each ran once, in order, the failing one not stopping the others
    assert calls == ["drain", "close"]
    assert services.lifecycle.stopping
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/readyz")).json() == {"status": "stopping"}
