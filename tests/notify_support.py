"""A real webhook receiver for tests (an HTTP server in a thread of the test process), the
reference Standard Webhooks verification, a clock tests move by hand, and setup helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gateway.app import create_app
from gateway.config import Settings
from gateway.services import Services
from tests import events as e
from tests.conftest import Api, api_client

SET = """mutation($input: ErrorNotificationsInput!) { setErrorNotifications(input: $input) {
  enabled webhookUrl flowIds minIntervalSeconds signingSecret previousSecretExpiresAt
  disabledReason disabledAt failingSince } }"""

DELIVERIES = """query($first: Int, $after: String, $filter: NotificationDeliveryFilter) {
  notificationDeliveries(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id type status count firstOccurredAt lastOccurredAt integrationId runId userId
      nextAttemptAt finishedAt lastError
      attempts { attemptedAt responseCode latencyMs error nextAttemptAt } } } }"""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next scripted (status, headers, delay), then 200."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    script: queue.Queue[tuple[int, dict[str, str], float]] = field(default_factory=queue.Queue)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def answer(self, status: int, headers: dict[str, str] | None = None, delay: float = 0) -> None:
        self.script.put((status, headers or {}, delay))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a worker's claim sends up to 20 at once


@contextmanager
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            rec = holder["r"]
            rec.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            try:
                status, headers, delay = rec.script.get_nowait()
            except queue.Empty:
                status, headers, delay = 200, {}, 0.0
            if delay:
                time.sleep(delay)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()


def verify(secret: str, headers: dict[str, str], body: bytes) -> int:
    """How many of the webhook-signature's signatures verify with ``secret`` (the reference
    algorithm: HMAC-SHA256 over "{id}.{timestamp}.{body}", key = base64 after whsec_)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return sum(
        hmac.compare_digest(part.partition(",")[2], expected)
        for part in headers["webhook-signature"].split(" ")
        if part.startswith("v1,")
    )


class Clock:
    """Now, as the worker sees it (a little ahead, so what a test queues is due); tests move
    it forward."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=30)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def notify_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        dashboard_base_url="https://dash.test",
        key_cache_seconds=0.0,
        notifications_allow_http=True,
        notifications_allow_private_urls=True,
    )


@asynccontextmanager
async def notify_app(settings: Settings) -> AsyncIterator[tuple[Any, Services]]:
    app = create_app(settings)
    services: Services = app.state.services
    try:
        yield app, services
    finally:
        await services.close()


@asynccontextmanager
async def clients(
    app_and_services: tuple[Any, Services], account_id: str
) -> AsyncIterator[tuple[Api, Api]]:
    async with (
        api_client(app_and_services, account_id, "admin") as admin,
        api_client(app_and_services, account_id, "ingest") as ingester,
    ):
        yield admin, ingester


async def configure(admin: Api, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = (await admin.data(SET, {"input": fields}))["setErrorNotifications"]
    return data


def failing_run(run_id: str, integration_id: str, start: float = 10) -> list[dict[str, Any]]:
    """A run whose step 0 fails with a 404 and a JSON error body."""
    payload = {
        "request": {"method": "POST", "url": "https://api.hubapi.com/contacts", "headers": []},
        "response": {"statusCode": 404, "headers": [], "body": '{"message": "contact not found"}'},
    }
    return [
        e.run_started(run_id, integration_id, start),
        e.step_finished(f"{run_id}-s0", run_id, 0, start, start + 1, "FAILED", 404, payload),
        e.run_finished(run_id, "FAILED", start + 2),
    ]


def ok_run(run_id: str, integration_id: str, start: float = 10) -> list[dict[str, Any]]:
    return [
        e.run_started(run_id, integration_id, start),
        e.step_finished(f"{run_id}-s0", run_id, 0, start, start + 1),
        e.run_finished(run_id, "OK", start + 2),
    ]


async def deliveries(admin: Api, **variables: Any) -> list[dict[str, Any]]:
    data = await admin.data(DELIVERIES, variables)
    nodes: list[dict[str, Any]] = data["notificationDeliveries"]["nodes"]
    return nodes
