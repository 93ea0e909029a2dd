#!/usr/bin/env python3
"""Live-subscription benchmark: many WebSocket subscribers, a steady stream of status changes.

What it does:

1. creates a fresh database (a SQLite temp file, or with ``--postgres URL`` a PostgreSQL
   database ``gw_live_<random>`` created there and dropped at the end), migrates it and seeds
   one account with I integrations (``--integrations``, default 10,000) through the ingest path;
2. makes a viewer key and an ingest key with ``gateway keys create``;
3. starts ``gateway serve`` as a subprocess (``--processes 2`` with ``--redis URL``: two
   gateway processes on different ports sharing the database and Redis; subscribers are split
   across them, ingest goes through the first);
4. starts ``--client-processes`` subscriber processes (default 2); together they open one
   WebSocket per integration (graphql-transport-ws: ``connection_init`` with the viewer key,
   then ``runStatusChanged(integrationId: …)``), plus ``--account-subscribers`` (default 10)
   following the whole account (``runStatusChanged`` without arguments);
5. publishes ``--rate`` status changes per second (default 1,000; half ``runStarted``, half
   ``runFinished`` of the runs started one tick earlier, spread round-robin over the
   integrations) for ``--seconds`` (default 20), in ``ingestEvents`` batches every ``--tick``;
6. waits until the gateway is idle again, collects every received event from the clients and
   prints one table.

Measured: connection setup rate; RSS per idle subscriber (gateway RSS after all subscriptions
are open and the server is idle, minus before, divided by their number); delivery latency from
the ingest request being sent to the event being received (p50/p99/max; send times are kept in
a map by run ID and status, client and publisher share the machine's clock); deliveries per
second; deliveries expected vs received (lost, duplicated, unexpected); peak RSS (VmHWM) of
each gateway process. Targets (one process): 10,000 + 10 subscribers, 1,000 changes/s (about
11,000 deliveries/s), p99 < 250 ms, < 20 KB per idle subscriber.

    python bench/bench_live.py --integrations 200 --rate 100 --seconds 5      # smoke, < 1 min
    python bench/bench_live.py                                                # full, SQLite
    python bench/bench_live.py --postgres postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis redis://127.0.0.1:6379/0 --processes 2

The server, the clients and the publisher share the machine's cores, so figures are a lower
bound of what the gateway does on its own hardware. Clients offer no permessage-deflate unless
``--deflate`` (browsers do; it costs the server memory per connection).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

ACCOUNT = "live"
PROJECT = Path(__file__).resolve().parent.parent
APP_ID = "live-app"
INTEGRATIONS_PER_FLOW = 200
MAX_BATCH = 1_000  # events per ingestEvents request

SUBSCRIPTION = """
subscription Follow($integrationId: String) {
  runStatusChanged(integrationId: $integrationId) {
    cursor previousStatus status run { runId }
  }
}
"""

INGEST = """
mutation Ingest($events: [IngestEvent!]!) {
  ingestEvents(events: $events) { accepted duplicates rejected { index code message } }
}
"""

TARGETS = {
    "subscribers": "10,000 + 10",
    "changes/s": "1,000",
    "deliveries/s": "~11,000",
    "p99": "< 250 ms",
    "per_idle": "< 20 KB",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def raise_nofile() -> int:
    """Raise the open-file limit to the hard limit (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def integration_id(j: int) -> str:
    return f"live-int-{j:07d}"


# --------------------------------------------------------------------------- database


def plain_pg(url: str, dbname: str | None = None) -> str:
    parts = urlsplit(url)
    path = parts.path if dbname is None else "/" + dbname
    return urlunsplit(("postgresql", parts.netloc, path, parts.query, ""))


@asynccontextmanager
async def fresh_database(pg_url: str | None, prefix: str = "gw_live"):
    """Yields a SQLAlchemy URL of a new empty database (``<prefix>_<random>``); removes it
    afterwards."""
    if pg_url is None:
        tmp = Path(tempfile.mkdtemp(prefix=prefix + "_"))
        try:
            yield f"sqlite+aiosqlite:///{tmp / 'live.db'}"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    import asyncpg

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(plain_pg(pg_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield "postgresql+asyncpg" + plain_pg(pg_url, name)[len("postgresql"):]
    finally:
        admin = await asyncpg.connect(plain_pg(pg_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def seed_events(integrations: int) -> list[dict[str, Any]]:
    from gateway.seed.events import app_upserted, flow_upserted, integration_created

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [app_upserted(f"{APP_ID}:upserted", occurred_at=t0, app_id=APP_ID, name="Webhook")]
    flows = (integrations + INTEGRATIONS_PER_FLOW - 1) // INTEGRATIONS_PER_FLOW
    events += [
        flow_upserted(f"live-flow-{k:04d}:upserted", occurred_at=t0, flow_id=f"live-flow-{k:04d}",
                      name=f"Live flow {k}", status="PUBLISHED")
        for k in range(flows)
    ]
    events += [
        integration_created(f"{integration_id(j)}:created", occurred_at=t0,
                            integration_id=integration_id(j),
                            flow_id=f"live-flow-{j // INTEGRATIONS_PER_FLOW:04d}",
                            user_id=f"user{j}")
        for j in range(integrations)
    ]
    return events


class QuietProgress:
    def advance(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


async def seed(url: str, integrations: int, events: list[dict[str, Any]] | None = None) -> None:
    """Migrates the database and ingests ``events`` (default: ``seed_events(integrations)``)
    into the account."""
    from gateway.config import Settings
    from gateway.db import accounts
    from gateway.db.migrate import upgrade_async
    from gateway.seed.loader import ingest_all
    from gateway.services import Services

    await upgrade_async(url)
    services = Services.from_settings(Settings(database_url=url))
    try:
        async with services.db.transaction() as conn:
            await accounts.ensure_account(conn, ACCOUNT)
        events = seed_events(integrations) if events is None else events
        await ingest_all(services, ACCOUNT, events, QuietProgress())  # type: ignore[arg-type]
    finally:
        await services.close()


def create_key(env: dict[str, str], role: str, workdir: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", "create", "--account", ACCOUNT,
         "--role", role, "--name", f"live bench {role}"],
        env=env, cwd=workdir, capture_output=True, text=True, check=True,
    )
    return proc.stdout.strip().splitlines()[-1].strip()


# --------------------------------------------------------------------------- gateway processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(url: str, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = url
    # One key drives the whole load: the server is measured, not its rate limits.
    env["GATEWAY_RATE_LIMITS"] = "false"
    if redis_url:
        env["GATEWAY_REDIS_URL"] = redis_url
    env["PYTHONPATH"] = str(PROJECT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@dataclass
class Gateway:
    port: int
    proc: subprocess.Popen[bytes]
    logfile: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


def proc_status(pid: int, field_name: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/<pid>/status, in bytes (psutil is not needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


async def start_gateway(env: dict[str, str], workdir: str, logdir: Path) -> Gateway:
    port = free_port()
    logfile = logdir / f"gateway-{port}.log"
    with open(logfile, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    gw = Gateway(port, proc, logfile)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {proc.returncode}: "
                                   + logfile.read_text()[-2000:])
            with suppress(httpx.HTTPError):
                if (await client.get(gw.http + "/readyz", timeout=1)).status_code == 200:
                    return gw
            if time.monotonic() > deadline:
                raise RuntimeError("gateway not ready within 60 s")
            await asyncio.sleep(0.2)


def stop_gateway(gw: Gateway) -> list[str]:
    """Stops it; returns the error lines of its log."""
    if gw.proc.poll() is None:
        os.killpg(gw.proc.pid, signal.SIGTERM)
        try:
            gw.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(gw.proc.pid, signal.SIGKILL)
            gw.proc.wait()
    lines = gw.logfile.read_text(errors="replace").splitlines()
    return [ln for ln in lines if "Traceback" in ln or "ERROR" in ln or "Error" in ln]


async def wait_idle(gateways: list[Gateway], limit: float, busy: float = 0.10) -> float:
    """Waits until every gateway process uses < ``busy`` of a core over 1 s (at most ``limit``
    seconds); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = [cpu_seconds(g.proc.pid) for g in gateways]
        await asyncio.sleep(1.0)
        after = [cpu_seconds(g.proc.pid) for g in gateways]
        if all(a - b < busy for a, b in zip(after, before, strict=True)):
            break
    return time.monotonic() - started


# --------------------------------------------------------------------------- subscriber processes


@dataclass
class ClientReport:
    connected: int = 0
    failed: int = 0
    connect_seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    # subscriber number -> the error or completion that ended its subscription (server side)
    ended: dict[int, str] = field(default_factory=dict)
    # (subscriber number, run ID, status, receive time)
    received: list[tuple[int, str, str, float]] = field(default_factory=list)


def client_process(conn: Any, assignments: list[tuple[int, str, str | None]], key: str,
                   concurrency: int, deflate: bool) -> None:
    """Entry point of a subscriber process: ``assignments`` are (subscriber number, WebSocket
    URL, integration ID or None for the whole account)."""
    raise_nofile()
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(run_clients(conn, assignments, key, concurrency, deflate))


async def run_clients(conn: Any, assignments: list[tuple[int, str, str | None]], key: str,
                      concurrency: int, deflate: bool) -> None:
    from websockets.asyncio.client import connect

    report = ClientReport()
    gate = asyncio.Semaphore(concurrency)
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []

    async def reader(number: int, ws: Any) -> None:
        received = report.received
        try:
            async for raw in ws:
                msg = orjson.loads(raw)
                kind = msg.get("type")
                if kind == "next":
                    payload = msg["payload"]
                    if payload.get("errors"):
                        message = f"error: {payload['errors'][0].get('message', '')[:120]}"
                        report.errors[message] += 1
                        report.ended.setdefault(number, message)
                        continue
                    event = payload["data"]["runStatusChanged"]
                    received.append((number, event["run"]["runId"], event["status"], time.time()))
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind in ("error", "complete"):
                    message = f"{kind}: {str(msg.get('payload'))[:120]}"
                    report.errors[message] += 1
                    report.ended.setdefault(number, message)
        except Exception as e:
            message = f"closed: {type(e).__name__}: {str(e)[:120]}"
            report.errors[message] += 1
            report.ended.setdefault(number, message)

    async def open_one(number: int, url: str, integration: str | None) -> None:
        async with gate:
            try:
                ws = await connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                   compression="deflate" if deflate else None,
                                   ping_interval=None, open_timeout=60, max_queue=None)
                await ws.send(orjson.dumps({"type": "connection_init",
                                            "payload": {"Authorization": f"Bearer {key}"}}).decode())
                ack = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no ack: {ack}")
                variables = {} if integration is None else {"integrationId": integration}
                await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": SUBSCRIPTION, "variables": variables}}).decode())
            except Exception as e:
                report.failed += 1
                report.errors[f"connect: {type(e).__name__}: {str(e)[:120]}"] += 1
                return
            report.connected += 1
            sockets.append(ws)
            readers.append(asyncio.create_task(reader(number, ws)))

    started = time.monotonic()
    await asyncio.gather(*(open_one(*a) for a in assignments))
    report.connect_seconds = time.monotonic() - started
    conn.send(("connected", report.connected, report.failed, report.connect_seconds))
    await asyncio.to_thread(conn.recv)  # "stop"
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    conn.send(("report", report))
    conn.close()


# --------------------------------------------------------------------------- publisher


@dataclass
class Published:
    # (run ID, status) -> (integration number, time the request carrying it was sent)
    sent: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    requests: int = 0
    rejected: int = 0
    first_rejection: str = ""
    started: float = 0.0
    finished: float = 0.0
    request_seconds: list[float] = field(default_factory=list)


async def publish(base: str, key: str, integrations: int, rate: float, seconds: float,
                  tick: float, prefix: str = "live-run") -> Published:
    """Ingests ``rate`` changes/s for ``seconds``: each tick starts new runs and finishes the
    runs the previous tick started (status OK, every 10th FAILED)."""
    from gateway.seed.events import iso, run_finished, run_started

    pub = Published()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    open_runs: list[tuple[str, int]] = []
    run_number = 0
    produced = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        pub.started = time.time()
        start = time.monotonic()
        end = start + seconds
        next_tick = start + tick
        while next_tick <= end:
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            # the changes due by now, minus those sent: a slow request makes the next batch
            # larger (up to the mutation's 1,000 events), so the rate holds if the server can
            now = min(time.monotonic(), end)
            batch_size = min(MAX_BATCH, int(rate * (now - start)) - produced)
            produced += batch_size
            now_iso = iso(datetime.now(UTC))
            events: list[dict[str, Any]] = []
            keys: list[tuple[str, str, int]] = []
            finishing, open_runs = open_runs[:batch_size], open_runs[batch_size:]
            for run_id, j in finishing:
                status = "FAILED" if int(run_id.rsplit("-", 1)[1]) % 10 == 0 else "OK"
                events.append(run_finished(f"{run_id}:finished", run_id=run_id, status=status,
                                           end_time=now_iso))
                keys.append((run_id, status, j))
            for _ in range(batch_size - len(finishing)):
                j = run_number % integrations
                run_id = f"{prefix}-{run_number:08d}"
                run_number += 1
                events.append(run_started(f"{run_id}:started", run_id=run_id,
                                          integration_id=integration_id(j), trigger_app_id=APP_ID,
                                          trigger_name="Webhook received", trigger_type="WEBHOOK",
                                          start_time=now_iso))
                keys.append((run_id, "RUNNING", j))
                open_runs.append((run_id, j))
            if events:
                body = orjson.dumps({"query": INGEST, "variables": {"events": events}})
                sent_at = time.time()
                t0 = time.monotonic()
                r = await client.post("/graphql", content=body)
                pub.request_seconds.append(time.monotonic() - t0)
                pub.requests += 1
                answer = r.json()
                rejected = set()
                if answer.get("errors"):
                    pub.rejected += len(events)
                    pub.first_rejection = pub.first_rejection or str(answer["errors"])[:300]
                    rejected = set(range(len(events)))
                else:
                    for rej in answer["data"]["ingestEvents"]["rejected"]:
                        rejected.add(rej["index"])
                        pub.rejected += 1
                        pub.first_rejection = pub.first_rejection or str(rej)[:300]
                for index, (run_id, status, j) in enumerate(keys):
                    if index not in rejected:
                        pub.sent[(run_id, status)] = (j, sent_at)
            next_tick = max(next_tick + tick, time.monotonic())
        pub.finished = time.time()
    return pub


# --------------------------------------------------------------------------- one run


@dataclass
class Result:
    label: str
    integrations: int
    subscribers: int = 0
    account_subscribers: int = 0
    connected: int = 0
    connect_failed: int = 0
    connect_rate: float = float("nan")
    rss_before: list[int] = field(default_factory=list)
    rss_idle: list[int] = field(default_factory=list)
    hwm: list[int] = field(default_factory=list)
    changes: int = 0
    publish_seconds: float = float("nan")
    expected: int = 0
    received: int = 0
    lost: int = 0
    lost_ended: int = 0  # of lost: on subscriptions the server ended (too slow, an error)
    ended: int = 0
    ended_account: int = 0
    duplicates: int = 0
    unexpected: int = 0
    delivered_per_s: float = float("nan")
    drain_seconds: float = float("nan")
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    ingest_p99_ms: float = float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def assign(subscribers: int, account_subscribers: int, gateways: list[Gateway],
           client_processes: int) -> list[list[tuple[int, str, str | None]]]:
    """Splits the subscribers over the client processes and the gateways, round-robin."""
    chunks: list[list[tuple[int, str, str | None]]] = [[] for _ in range(client_processes)]
    total = subscribers + account_subscribers
    for n in range(total):
        integration = integration_id(n) if n < subscribers else None
        chunks[n % client_processes].append((n, gateways[n % len(gateways)].ws, integration))
    return chunks


def tally(result: Result, pub: Published, reports: list[ClientReport]) -> None:
    """Expected vs received deliveries, latencies, delivery rate."""
    account_subs = range(result.subscribers, result.subscribers + result.account_subscribers)
    seen: Counter[tuple[int, str, str]] = Counter()
    latencies: list[float] = []
    ended: set[int] = set()
    in_window = 0
    last = pub.finished
    for rep in reports:
        result.errors.update(rep.errors)
        ended.update(rep.ended)
        for number, run_id, status, t in rep.received:
            seen[(number, run_id, status)] += 1
            sent = pub.sent.get((run_id, status))
            if sent is not None:
                latencies.append(t - sent[1])
            if pub.started <= t <= pub.finished:
                in_window += 1
            last = max(last, t)
    expected: set[tuple[int, str, str]] = set()
    for (run_id, status), (j, _t) in pub.sent.items():
        if j < result.subscribers:
            expected.add((j, run_id, status))
        for n in account_subs:
            expected.add((n, run_id, status))
    result.changes = len(pub.sent)
    result.publish_seconds = pub.finished - pub.started
    result.expected = len(expected)
    result.received = sum(seen.values())
    missing = expected - seen.keys()
    result.lost = len(missing)
    result.lost_ended = sum(1 for number, _r, _s in missing if number in ended)
    result.ended = len(ended)
    result.ended_account = sum(1 for n in ended if n in account_subs)
    result.unexpected = len(seen.keys() - expected)
    result.duplicates = sum(c - 1 for c in seen.values() if c > 1)
    result.latencies = latencies
    result.delivered_per_s = result.received / max(last - pub.started, 1e-9)
    result.notes.append(f"deliveries received while publishing: {in_window / max(result.publish_seconds, 1e-9):,.0f}/s;"
                        f" last one {last - pub.finished:.1f} s after the last ingest request")
    if pub.rejected:
        result.notes.append(f"{pub.rejected} ingested changes rejected, e.g. {pub.first_rejection}")
    result.ingest_p99_ms = percentile(pub.request_seconds, 99) * 1000
    result.notes.append(f"ingest: {pub.requests} requests, p50 "
                        f"{percentile(pub.request_seconds, 50) * 1000:.0f} ms, p99 "
                        f"{result.ingest_p99_ms:.0f} ms, max {max(pub.request_seconds, default=0) * 1000:.0f} ms")


async def run(args: argparse.Namespace) -> Result:
    backend = "sqlite" if args.postgres is None else "postgres+redis" if args.redis else "postgres"
    label = f"{backend}, {args.processes} gateway process{'es' if args.processes > 1 else ''}"
    result = Result(label, args.integrations, subscribers=args.integrations,
                    account_subscribers=args.account_subscribers)
    workdir = tempfile.mkdtemp(prefix="gw_live_work_")
    logdir = Path(tempfile.mkdtemp(prefix="gw_live_logs_"))  # kept: the gateways' logs
    gateways: list[Gateway] = []
    procs: list[Any] = []
    try:
        async with fresh_database(args.postgres) as url:
            log(f"{label}: database {url}; seeding {args.integrations:,} integrations")
            t0 = time.monotonic()
            await seed(url, args.integrations)
            log(f"seeded in {time.monotonic() - t0:.1f} s")
            env = server_env(url, args.redis)
            viewer = await asyncio.to_thread(create_key, env, "viewer", workdir)
            ingest = await asyncio.to_thread(create_key, env, "ingest", workdir)
            for _ in range(args.processes):  # one after the other: each migrates at start
                gateways.append(await start_gateway(env, workdir, logdir))
            if args.baseline_seconds > 0:
                log(f"baseline: ingesting {args.rate:g} changes/s for {args.baseline_seconds:g} s"
                    " without subscribers")
                base = await publish(gateways[0].http, ingest, args.integrations, args.rate,
                                     args.baseline_seconds, args.tick, prefix="base-run")
                result.notes.append(
                    f"baseline without subscribers: {len(base.sent):,} changes in "
                    f"{base.finished - base.started:.1f} s = "
                    f"{len(base.sent) / max(base.finished - base.started, 1e-9):,.0f}/s, "
                    f"{base.requests} ingest requests, p50 "
                    f"{percentile(base.request_seconds, 50) * 1000:.0f} ms, p99 "
                    f"{percentile(base.request_seconds, 99) * 1000:.0f} ms")
            await wait_idle(gateways, 10)
            result.rss_before = [proc_status(g.proc.pid, "VmRSS") for g in gateways]

            ctx = mp.get_context("spawn")
            pipes = []
            chunks = assign(args.integrations, args.account_subscribers, gateways,
                            args.client_processes)
            log(f"connecting {sum(map(len, chunks)):,} subscribers from "
                f"{args.client_processes} client processes to {len(gateways)} gateway(s)")
            t0 = time.monotonic()
            for chunk in chunks:
                parent, child = ctx.Pipe()
                p = ctx.Process(target=client_process,
                                args=(child, chunk, viewer, args.connect_concurrency, args.deflate))
                p.start()
                procs.append(p)
                pipes.append(parent)
            for pipe in pipes:
                _tag, ok, failed, _secs = await asyncio.to_thread(pipe.recv)
                result.connected += ok
                result.connect_failed += failed
            connect_wall = time.monotonic() - t0
            result.connect_rate = result.connected / connect_wall
            log(f"{result.connected:,} connected ({result.connect_failed} failed) in "
                f"{connect_wall:.1f} s; waiting for the gateway to settle")
            settle = await wait_idle(gateways, 120)
            result.rss_idle = [proc_status(g.proc.pid, "VmRSS") for g in gateways]
            result.notes.append(f"connection setup: {connect_wall:.1f} s for the sockets and "
                                f"subscribe messages, then {settle:.1f} s until the gateway was idle")

            log(f"publishing {args.rate:g} changes/s for {args.seconds:g} s")
            pub = await publish(gateways[0].http, ingest, args.integrations, args.rate,
                                args.seconds, args.tick)
            log("draining")
            result.drain_seconds = await wait_idle(gateways, args.drain_limit)
            await asyncio.sleep(1.0)
            result.hwm = [proc_status(g.proc.pid, "VmHWM") for g in gateways]
            for pipe in pipes:
                pipe.send("stop")
            reports = []
            for pipe in pipes:
                _tag, rep = await asyncio.to_thread(pipe.recv)
                reports.append(rep)
            tally(result, pub, reports)
            for g in gateways:
                errors = stop_gateway(g)
                if errors:
                    result.notes.append(f"gateway log {g.logfile}: {len(errors)} error lines, "
                                        f"first: {errors[0][:300]}")
            gateways.clear()
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        for g in gateways:
            stop_gateway(g)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


def kb(b: float) -> str:
    return f"{b / 1024:,.1f} KB"


def mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB"


def report(r: Result, args: argparse.Namespace) -> None:
    lat_ms = [x * 1000 for x in r.latencies]
    subs = r.subscribers + r.account_subscribers
    added = sum(r.rss_idle) - sum(r.rss_before)
    per_idle = added / max(r.connected, 1)
    rows = [
        ("subscribers (per integration + whole account)",
         f"{r.subscribers:,} + {r.account_subscribers}: {r.connected:,} connected, "
         f"{r.connect_failed} failed", TARGETS["subscribers"]),
        ("connection setup rate", f"{r.connect_rate:,.0f} subscriptions/s", ""),
        ("RSS per idle subscriber", f"{kb(per_idle)} ({mb(added)} for {r.connected:,})",
         TARGETS["per_idle"]),
        ("gateway RSS before / idle with subscribers",
         " + ".join(mb(b) for b in r.rss_before) + " / " + " + ".join(mb(b) for b in r.rss_idle), ""),
        ("peak RSS (VmHWM) of the gateway",
         " + ".join(mb(b) for b in r.hwm), ""),
        ("changes ingested", f"{r.changes:,} in {r.publish_seconds:.1f} s = "
         f"{r.changes / max(r.publish_seconds, 1e-9):,.0f}/s (asked {args.rate:g}/s)",
         TARGETS["changes/s"]),
        ("deliveries expected / received",
         f"{r.expected:,} / {r.received:,}: {r.lost:,} missing when the clients stopped "
         f"({r.lost_ended:,} of them on ended subscriptions), {r.duplicates:,} twice, "
         f"{r.unexpected:,} unexpected",
         "none lost, none twice"),
        ("subscriptions the server ended during the run",
         f"{r.ended:,} ({r.ended_account} of them whole-account)", "0"),
        ("deliveries per second", f"{r.delivered_per_s:,.0f}/s (first send to last receipt)",
         TARGETS["deliveries/s"]),
        ("delivery latency p50 / p99 / max",
         f"{percentile(lat_ms, 50):,.0f} / {percentile(lat_ms, 99):,.0f} / "
         f"{max(lat_ms, default=float('nan')):,.0f} ms", TARGETS["p99"]),
        ("drain after the last ingest", f"{r.drain_seconds:.1f} s until the gateway was idle", ""),
    ]
    print()
    print(f"## Live subscriptions: {r.label}, {r.integrations:,} integrations, "
          f"{subs:,} subscribers, {args.client_processes} client processes, "
          f"{args.rate:g} changes/s for {args.seconds:g} s "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores shared)")
    print()
    print("| measure | figure | target |")
    print("|---|---|---|")
    for name, figure, target in rows:
        print(f"| {name} | {figure} | {target} |")
    print()
    for note in r.notes:
        print(f"- {note}")
    grouped: Counter[str] = Counter()
    for message, count in r.errors.items():  # one line per kind, whatever the request ID
        grouped[re.sub(r"[0-9a-f]{32}(\.\d+)?", "<request id>", message)] += count
    for message, count in grouped.most_common(8):
        print(f"- client saw {count:,}x {message}")
    sys.stdout.flush()


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--integrations", type=int, default=10_000,
                   help="integrations, one subscriber each (default 10,000)")
    p.add_argument("--account-subscribers", type=int, default=10,
                   help="subscribers following the whole account (default 10)")
    p.add_argument("--rate", type=float, default=1_000, help="changes per second (default 1,000)")
    p.add_argument("--seconds", type=float, default=20, help="publishing time (default 20)")
    p.add_argument("--tick", type=float, default=0.05,
                   help="seconds between ingest requests (default 0.05)")
    p.add_argument("--drain-limit", type=float, default=30,
                   help="after publishing, wait at most this long for the gateway to go idle; "
                   "what has not arrived by then counts as lost (default 30)")
    p.add_argument("--baseline-seconds", type=float, default=2,
                   help="ingest at --rate this long before any subscriber connects (0: skip)")
    p.add_argument("--client-processes", type=int, default=2)
    p.add_argument("--connect-concurrency", type=int, default=100,
                   help="handshakes under way at once per client process")
    p.add_argument("--postgres", metavar="URL", help="admin URL of a PostgreSQL server; "
                   "a database is created there and dropped (default: SQLite)")
    p.add_argument("--redis", metavar="URL", help="GATEWAY_REDIS_URL for the gateways")
    p.add_argument("--processes", type=int, default=1, help="gateway processes (2 needs --redis)")
    p.add_argument("--deflate", action="store_true", help="clients offer permessage-deflate")
    args = p.parse_args(argv)
    if args.processes > 1 and not args.redis:
        p.error("--processes > 1 needs --redis")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = raise_nofile()
    needed = args.integrations + args.account_subscribers + 200
    if limit < needed:
        log(f"open-file limit {limit} is below the {needed} sockets a gateway may need")
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(run(args))
    report(result, args)
    return 0 if result.lost == 0 and result.duplicates == 0 and result.connect_failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
