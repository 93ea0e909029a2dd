"""Error notifications under a burst of failures.

One process, like one gateway server: the ASGI app in-process (httpx.ASGITransport, the real
GraphQL ingest path) and its delivery worker on the same event loop, a receiver in a thread that
answers every webhook after ``--receiver-ms`` (default 50 ms).

1. Account "off" (no webhook): ingests ``--runs`` failing runs (one per integration, so none
   fold) in batches of 1,000 events: events/s without notifications.
2. Account "outbox" (webhook set, worker stopped): the same data: events/s with the outbox rows
   written (they are then marked FAILED, never sent).
3. Account "live" (webhook set, worker running beside the ingest): events/s while delivering,
   the time from the first ingest request until the receiver has every notification, and
   deliveries per second over the delivery span.

    python bench/bench_notifications.py --runs 10000
    python bench/bench_notifications.py --runs 10000 --postgres postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import tempfile
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import update

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db import tables as t
from gateway.db.migrate import upgrade_async

INGEST = """mutation($events: [IngestEvent!]!) { ingestEvents(events: $events) {
  accepted rejected { code } } }"""
SET = """mutation($u: String!) { setErrorNotifications(input: {webhookUrl: $u}) { enabled } }"""
BATCH = 1000


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def _serve(
    port: Any, count: Any, first: Any, last: Any, delay: float, record: str | None = None
) -> None:
    journal = open(record, "ab", buffering=0) if record else None  # noqa: SIM115

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if journal is not None:  # one line per request: arrival time (epoch s), the body
                journal.write(f"{time.time():.6f} ".encode() + body.replace(b"\n", b" ") + b"\n")
            time.sleep(delay)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
            with count.get_lock():
                count.value += 1
                if count.value == 1:
                    first.value = time.monotonic()
                last.value = time.monotonic()

        def log_message(self, *_args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    port.value = server.server_address[1]
    server.serve_forever()


class Receiver:
    """A webhook receiver in its own process (it must not share the gateway's GIL). With
    ``record``, each request's arrival time and body are appended to that file, a line each."""

    def __init__(self, delay: float, record: str | None = None) -> None:
        ctx = multiprocessing.get_context("fork")
        self.port = ctx.Value("i", 0)
        self.count = ctx.Value("i", 0)
        self.first = ctx.Value("d", 0.0)
        self.last = ctx.Value("d", 0.0)
        args = (self.port, self.count, self.first, self.last, delay, record)
        self.process = ctx.Process(target=_serve, args=args, daemon=True)
        self.process.start()
        while not self.port.value:
            time.sleep(0.01)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join()


def _at(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_790_000_000 + seconds)) + ".000Z"


def events(runs: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "flowUpserted": {
                "eventId": "f",
                "occurredAt": _at(0),
                "flowId": "flow",
                "name": "F",
                "status": "PUBLISHED",
            }
        }
    ]
    for i in range(runs):
        out.append(
            {
                "integrationCreated": {
                    "eventId": f"i{i}",
                    "occurredAt": _at(1),
                    "integrationId": f"int-{i}",
                    "flowId": "flow",
                    "userId": f"user-{i % 500}",
                }
            }
        )
    for i in range(runs):
        run, start = f"run-{i}", 10 + i * 0.001
        payload = {
            "request": {"method": "POST", "url": "https://api.example.com/x", "headers": []},
            "response": {"statusCode": 500, "headers": [], "body": '{"error": "upstream timeout"}'},
        }
        out += [
            {
                "runStarted": {
                    "eventId": f"rs{i}",
                    "occurredAt": _at(start),
                    "runId": run,
                    "integrationId": f"int-{i}",
                    "triggerAppId": "slack",
                    "triggerName": "New message",
                    "triggerType": "WEBHOOK",
                    "startTime": _at(start),
                }
            },
            {
                "stepFinished": {
                    "eventId": f"sf{i}",
                    "occurredAt": _at(start + 1),
                    "stepId": f"{run}-s0",
                    "runId": run,
                    "position": 0,
                    "appId": "hubspot",
                    "name": "Create contact",
                    "status": "FAILED",
                    "startTime": _at(start),
                    "endTime": _at(start + 1),
                    "networkCode": 500,
                    "payload": payload,
                }
            },
            {
                "runFinished": {
                    "eventId": f"rf{i}",
                    "occurredAt": _at(start + 2),
                    "runId": run,
                    "status": "FAILED",
                    "endTime": _at(start + 2),
                }
            },
        ]
    return out


async def ingest(client: httpx.AsyncClient, batch_events: list[dict[str, Any]]) -> float:
    started = time.monotonic()
    for i in range(0, len(batch_events), BATCH):
        response = await client.post(
            "/graphql", json={"query": INGEST, "variables": {"events": batch_events[i : i + BATCH]}}
        )
        result = response.json()
        assert "errors" not in result, result
        assert not result["data"]["ingestEvents"]["rejected"], result
    return time.monotonic() - started


async def main(runs: int, receiver_ms: float, postgres: str | None) -> None:
    pg_name = None
    if postgres:
        pg_name = f"gw_bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(postgres)
        await conn.execute(f'CREATE DATABASE "{pg_name}"')
        await conn.close()
        url = postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{url}/{pg_name}"
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    try:
        await upgrade_async(url)
        settings = Settings(
            database_url=url,
            notifications_allow_http=True,
            notifications_allow_private_urls=True,
            statement_timeout_seconds=60,
        )
        app = create_app(settings)
        services = app.state.services
        hook_process = Receiver(receiver_ms / 1000)
        hook = f"http://127.0.0.1:{hook_process.port.value}/hook"
        data = events(runs)
        transport = httpx.ASGITransport(app=app)
        figures: dict[str, float] = {}
        # off: no webhook; outbox: webhook set, worker stopped (the outbox's own cost);
        # live: webhook set, worker running beside the ingest (the burst end to end).
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://gw",
            headers={"Authorization": f"Bearer {await create_key(services.db, 'warm', 'admin')}"},
        ) as client:
            await ingest(client, events(200))  # warm-up: caches, the first batches' setup
        for account in ("off", "outbox", "live"):
            key = await create_key(services.db, account, "admin")
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://gw",
                timeout=600,
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                if account != "off":
                    await client.post("/graphql", json={"query": SET, "variables": {"u": hook}})
                worker = None
                if account == "live":
                    worker = asyncio.create_task(services.notifier.run(0.05))
                started = time.monotonic()
                took = await ingest(client, data)
                figures[f"{account}_eps"] = len(data) / took
                if account == "outbox":  # measured; never to be sent
                    async with services.db.transaction() as conn:
                        n = t.notifications
                        figures["outbox_rows"] = (
                            await conn.execute(
                                update(n).where(n.c.account_id == "outbox").values(status="FAILED")
                            )
                        ).rowcount
                if worker is not None:
                    while hook_process.count.value < runs:  # noqa: ASYNC110 (another process counts)
                        await asyncio.sleep(0.05)
                    first, last = hook_process.first.value, hook_process.last.value
                    figures["all_delivered_s"] = last - started
                    figures["delivery_span_s"] = last - first
                    figures["deliveries_per_s"] = runs / max(last - first, 1e-9)
                    await asyncio.sleep(0.5)
                    figures["received"] = hook_process.count.value
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
        await services.close()
        hook_process.stop()
    finally:
        if pg_name and postgres:
            conn = await asyncpg.connect(postgres)
            await conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await conn.close()
    backend = "postgresql" if postgres else "sqlite"
    print(
        f"backend {backend}, {runs:,} failing runs ({len(data):,} events), receiver "
        f"{receiver_ms:g} ms"
    )
    print(f"ingest, notifications off:           {figures['off_eps']:,.0f} events/s")
    print(
        f"ingest, outbox on (worker stopped):  {figures['outbox_eps']:,.0f} events/s "
        f"({(figures['outbox_eps'] / figures['off_eps'] - 1) * 100:+.1f} % vs off; "
        f"{figures['outbox_rows']:,} outbox rows)"
    )
    print(
        f"ingest, outbox on, worker delivering: {figures['live_eps']:,.0f} events/s "
        f"({(figures['live_eps'] / figures['off_eps'] - 1) * 100:+.1f} % vs off)"
    )
    print(
        f"every notification delivered {figures['all_delivered_s']:.1f} s after the first "
        f"ingest request; {figures['deliveries_per_s']:,.0f} deliveries/s over "
        f"{figures['delivery_span_s']:.1f} s; received {figures['received']:,.0f} "
        f"(expected {runs:,})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--receiver-ms", type=float, default=50.0)
    parser.add_argument("--postgres", help="admin URL, e.g. postgresql://postgres@127.0.0.1/test")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.receiver_ms, args.postgres))
