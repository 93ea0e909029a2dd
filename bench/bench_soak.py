#!/usr/bin/env python3
"""Soak benchmark: N minutes of mixed load on two gateway processes over PostgreSQL + Redis.

What it does:

1. creates a fresh PostgreSQL database ``gw_soak_<random>`` on ``--pg-url`` (dropped at the
   end), migrates it and seeds one account with the demo apps and flows and ``--integrations``
   integrations (default 1,000) through the ingest path; makes a viewer, an ingest and an admin
   key with ``gateway keys create``;
2. starts a webhook receiver in its own process (``bench_notifications.Receiver``, every
   arrival journaled) and two ``gateway serve`` processes on two ports, sharing the database
   and the Redis at ``--redis`` (the broker's default channel: the gateway has no setting for a
   channel prefix), with ``GATEWAY_RATE_LIMITS=false`` (one key drives the load) and
   ``GATEWAY_NOTIFICATIONS_ALLOW_PRIVATE_URLS`` / ``_ALLOW_HTTP`` so the local receiver may be
   the account's webhook (``setErrorNotifications``, ``minIntervalSeconds`` ``--min-interval``,
   default 0: every failure notifies);
3. opens ``--subscribers`` WebSockets (default 1,000; graphql-transport-ws) from two client
   processes (``bench_live.client_process``), split over both gateways: one
   ``runStatusChanged(integrationId: …)`` per integration and ``--account-subscribers``
   (default 5) following the whole account;
4. for ``--minutes`` (default 10), all in separate processes from the gateways:
   * an ingest process plays realistic runs (``gateway.seed.simulate``: run started, each step
     started and finished with its payload, run finished; 5-25 % fail at a step with a real
     error body) at ``--rate`` events/s (default 1,000) through ``ingestEvents``, one batch
     every ``--tick`` to each gateway in turn;
   * a query process runs ``--clients`` concurrent clients (default 4; spread over both
     gateways), each walking the console's screens as a user clicks through them: the queries
     are read from ``gateway/console/static/js/screens/*.js`` (flows with stats, a flow's
     integrations, status history, an integration's runs, a flow's failed runs, a run's steps,
     a step's payload, end users), plus the dashboard queries of ``bench_api.py`` (the
     integration list, the account's failures, the deep view) and node lookups
     (``node(id:)``, ``nodes(ids:)``);
   * the main process samples each gateway's RSS every 5 s and reads its ``/metrics``
     (``gateway_outbox_pending``, ``gateway_outbox_oldest_pending_seconds``);
5. waits for the outbox to drain and the gateways to go idle, collects every count and prints
   one table: errors by operation and code or status, p50/p99 per operation, RSS of each
   gateway at start / 1 min / middle / end, subscription deliveries (expected vs received,
   latency), outbox lag (a failing run's ``runFinished`` request sent to its webhook's arrival,
   p50/p99/max) and the outbox metrics, against the targets: 0 errors, RSS growth < 10 % after
   the first minute. Exit code 1 if a target is missed.

    python bench/bench_soak.py --minutes 1                                   # smoke, ~2 min
    python bench/bench_soak.py                                               # 10 minutes

The gateways, the load generators and the receiver share the machine's cores, so the figures
are a lower bound of what two gateway processes do on hardware of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bench_api
import bench_live
import httpx
import orjson
from bench_live import ACCOUNT, MAX_BATCH, Gateway, Published, integration_id, log, percentile

from gateway.seed.demo import FLOWS
from gateway.seed.events import app_upserted, flow_upserted, integration_created
from gateway.seed.fakes import APPS
from gateway.seed.loader import MUTATION
from gateway.seed.simulate import DEMO_SHAPES, NOT_RECEIVING, RunMaker, Simulation, target

PROJECT = Path(__file__).resolve().parent.parent
SCREENS = PROJECT / "gateway" / "console" / "static" / "js" / "screens"
SAMPLE_SECONDS = 5.0
RSS_GROWTH_TARGET = 0.10

SET_NOTIFICATIONS = """mutation SetHook($url: String!, $interval: Int!) {
  setErrorNotifications(input: {webhookUrl: $url, enabled: true, minIntervalSeconds: $interval}) {
    enabled webhookUrl minIntervalSeconds } }"""

# The global IDs a node lookup needs, then the lookups themselves.
RUN_IDS = """query RunIds($runId: String!) {
  run(runId: $runId) { id integration { id flow { id } } steps(first: 3) { nodes { id } } } }"""
NODE = """query Node($id: ID!) {
  node(id: $id) { id ... on Run { runId status duration integration { integrationId } } } }"""
NODES = """query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) { id
    ... on Flow { flowId name flowStatus: status }
    ... on Integration { integrationId integrationStatus: status lastRunStatus }
    ... on Step { stepId stepStatus: status networkCode } } }"""


def console_queries() -> dict[str, str]:
    """The console's query documents by operation name, as its screens send them: each
    ``const NAME = `…```/``"…"`` of a screen module, its ``${CONST}`` parts filled in."""
    documents: dict[str, str] = {}
    for path in sorted(SCREENS.glob("*.js")):
        consts = {
            m[1]: m[2] if m[2] is not None else m[3]
            for m in re.finditer(r'const (\w+) = (?:`(.*?)`|"(.*?)");', path.read_text(), re.S)
        }

        def expand(text: str, consts: dict[str, str] = consts) -> str:
            return re.sub(r"\$\{(\w+)\}", lambda part: expand(consts[part[1]]), text)

        for text in consts.values():
            found = re.match(r"\s*query (\w+)", text)
            if found:
                documents[found[1]] = expand(text)
    return documents


# --------------------------------------------------------------------------- the account


def seed_events(integrations: int) -> list[dict[str, Any]]:
    """The demo apps and flows, and ``integrations`` integrations spread over the flows (the
    subscribers' IDs: ``bench_live.integration_id``)."""
    t0 = datetime.now(UTC) - timedelta(days=1)
    events = [
        app_upserted(f"{a.app_id}:upserted", occurred_at=t0, app_id=a.app_id, name=a.name,
                     icon_url=a.icon_url, docs_url=a.docs_url)
        for a in APPS.values()
    ]
    events += [
        flow_upserted(f"{f.flow_id}:upserted", occurred_at=t0, flow_id=f.flow_id, name=f.name,
                      status="PUBLISHED")
        for f in FLOWS
    ]
    events += [
        integration_created(f"{integration_id(j)}:created", occurred_at=t0 + timedelta(seconds=j),
                            integration_id=integration_id(j), flow_id=flow_of(j),
                            user_id=f"user{j % 300:03d}", user_auth=f"User {j % 300} (Acme)")
        for j in range(integrations)
    ]
    return events


def flow_of(j: int) -> str:
    return FLOWS[j % len(FLOWS)].flow_id


# --------------------------------------------------------------------------- ingest process


@dataclass
class IngestReport:
    published: Published = field(default_factory=Published)
    failed_sent: dict[str, float] = field(default_factory=dict)  # run ID -> runFinished sent
    errors: Counter[str] = field(default_factory=Counter)
    events: int = 0
    runs: int = 0
    failed_runs: int = 0
    refused_paused: int = 0
    seconds: float = 0.0
    in_window: int = 0  # events sent while the load ran (the rest: the runs under way finishing)
    cpu_seconds: float = 0.0


class HttpSimulation(Simulation):
    """``Simulation`` sending its batches over HTTP, one every ``tick`` at most, to each
    gateway in turn, and noting when each status change and each failure was sent."""

    def __init__(self, targets: list[Any], events_per_second: float, urls: list[str], key: str,
                 tick: float) -> None:
        super().__init__(None, ACCOUNT, targets,  # type: ignore[arg-type]
                         rate=events_per_second / events_per_run(targets), refresh_seconds=1e9,
                         max_failures=None)
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        self.clients = [httpx.AsyncClient(base_url=u, headers=headers, timeout=60) for u in urls]
        self.tick = tick
        self.report = IngestReport()
        self._last_send = 0.0
        self._requests = 0
        # The events of each run under way, and of the runs finished: the run rate is set so
        # that runs/s x events per finished run is the events/s asked for (the runs the
        # simulation picks lean to the flows with fewer steps, which are idle more often).
        self.events_rate = events_per_second
        self._run_events: Counter[str] = Counter()
        self._finished = [0, 0]  # runs, events
        self.deadline = float("inf")  # epoch seconds: when the load ends

    async def _sleep(self, seconds: float) -> None:
        since = asyncio.get_running_loop().time() - self._last_send
        await super()._sleep(max(seconds, self.tick - since))

    async def _send(self, batch: list[Any]) -> None:
        """Sends the batch in requests of at most 1,000 events, at once, to the gateways in
        turn; a request that fails is counted and sent again until it is answered (its event
        IDs make that safe), so the simulation never sees a failure."""
        chunks: list[list[Any]] = []
        size = 0
        for sent in batch:
            if not sent.events:
                continue
            if not chunks or size + len(sent.events) > MAX_BATCH:
                chunks.append([])
                size = 0
            chunks[-1].append(sent)
            size += len(sent.events)
        attempt = 0
        while chunks:
            self._last_send = asyncio.get_running_loop().time()
            answered = await asyncio.gather(*(self._post(chunk) for chunk in chunks))
            chunks = [chunk for chunk, ok in zip(chunks, answered, strict=True) if not ok]
            if chunks:
                attempt += 1
                await asyncio.sleep(min(10.0, 0.25 * 2**attempt))

    async def _post(self, batch: list[Any]) -> bool:
        events = [event for sent in batch for event in sent.events]
        rep = self.report
        client = self.clients[self._requests % len(self.clients)]
        self._requests += 1
        body = orjson.dumps({"query": MUTATION, "variables": {"events": events}})
        sent_at = time.time()
        started = time.monotonic()
        try:
            response = await client.post("/graphql", content=body)
        except httpx.HTTPError as error:
            rep.errors[f"ingestEvents: {type(error).__name__}"] += 1
            return False
        rep.published.request_seconds.append(time.monotonic() - started)
        rep.published.requests += 1
        if response.status_code != 200:
            rep.errors[f"ingestEvents: HTTP {response.status_code}"] += 1
            return False
        answer = orjson.loads(response.content)
        if answer.get("errors"):
            for code in error_codes(answer):
                rep.errors[f"ingestEvents: {code}"] += 1
            rep.published.first_rejection = (rep.published.first_rejection
                                             or str(answer["errors"])[:300])
            return False
        refused = {r["index"]: r for r in answer["data"]["ingestEvents"]["rejected"]}
        index = 0
        for sent in batch:
            for event in sent.events:
                rejection = refused.get(index)
                index += 1
                self._count(sent.script, event, rejection)
                member, fields = next(iter(event.items()))
                if rejection is not None:
                    if member == "runStarted" and rejection["code"] == NOT_RECEIVING:
                        rep.refused_paused += 1
                    else:
                        rep.errors[f"ingestEvents: rejected {rejection['code']}"] += 1
                        rep.published.first_rejection = (rep.published.first_rejection
                                                         or str(rejection)[:300])
                    continue
                rep.events += 1
                rep.in_window += sent_at <= self.deadline
                self._run_events[sent.script.run_id] += 1
                j = int(sent.script.target.integration_id.rsplit("-", 1)[1])
                if member == "runStarted":
                    rep.runs += 1
                    rep.published.sent[(fields["runId"], "RUNNING")] = (j, sent_at)
                elif member == "runFinished":
                    self._finished[0] += 1
                    self._finished[1] += self._run_events.pop(sent.script.run_id, 0)
                    if self._finished[0] >= 100:
                        self.rate = self.events_rate * self._finished[0] / self._finished[1]
                    rep.published.sent[(fields["runId"], fields["status"])] = (j, sent_at)
                    if fields["status"] == "FAILED":
                        rep.failed_runs += 1
                        rep.failed_sent[fields["runId"]] = sent_at
        return True


def events_per_run(targets: list[Any], samples: int = 2_000) -> float:
    """How many events a run of these targets sends on average (failed runs send fewer: the
    steps after the failure are only SKIPPED), from ``samples`` runs played out at once."""
    maker, rng, now = RunMaker(random.Random(5), "calibrate"), random.Random(6), datetime.now(UTC)
    return sum(len(maker.run(rng.choice(targets)).rest(now)) for _ in range(samples)) / samples


def ingest_process(conn: Any, urls: list[str], key: str, integrations: int, rate: float,
                   seconds: float, tick: float) -> None:
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    targets = [target(integration_id(j), DEMO_SHAPES[flow_of(j)]) for j in range(integrations)]

    async def main() -> IngestReport:
        sim = HttpSimulation(targets, rate, urls, key, tick)
        sim.maker.rng.seed(11)
        conn.send("ready")
        await asyncio.to_thread(conn.recv)  # "go"
        sim.report.published.started = time.time()
        sim.deadline = sim.report.published.started + seconds
        totals = await sim.run(seconds)
        sim.report.published.finished = time.time()
        sim.report.seconds = totals.seconds
        for client in sim.clients:
            await client.aclose()
        sim.report.cpu_seconds = time.process_time()
        return sim.report

    conn.send(asyncio.run(main()))
    conn.close()


# --------------------------------------------------------------------------- query process


def error_codes(answer: dict[str, Any]) -> list[str]:
    return [str((e.get("extensions") or {}).get("code") or e.get("message", "?")[:60])
            for e in answer.get("errors") or []]


@dataclass
class QueryReport:
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    messages: dict[str, str] = field(default_factory=dict)  # error -> its first message
    walks: int = 0
    cpu_seconds: float = 0.0


class Walker:
    """One console user clicking through the screens, on one gateway."""

    def __init__(self, client: httpx.AsyncClient, documents: dict[str, str], report: QueryReport,
                 rng: random.Random, think: float) -> None:
        self.client, self.documents, self.report = client, documents, report
        self.rng, self.think = rng, think

    async def query(self, op: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = orjson.dumps({"query": self.documents[op], "operationName": op,
                             "variables": variables or {}})
        started = time.monotonic()
        try:
            response = await self.client.post("/graphql", content=body)
        except httpx.HTTPError as error:
            self.report.errors[f"{op}: {type(error).__name__}"] += 1
            return {}
        self.report.seconds[op].append(time.monotonic() - started)
        if self.think:
            await asyncio.sleep(self.think)
        if response.status_code != 200:
            self.report.errors[f"{op}: HTTP {response.status_code}"] += 1
            return {}
        answer = orjson.loads(response.content)
        for code, error in zip(error_codes(answer), answer.get("errors") or [], strict=True):
            self.report.errors[f"{op}: {code}"] += 1
            self.report.messages.setdefault(f"{op}: {code}", str(error.get("message"))[:200])
        return answer.get("data") or {}

    def pick(self, items: list[Any]) -> Any:
        return self.rng.choice(items) if items else None

    async def walk(self) -> None:
        by_start = {"field": "START_TIME", "direction": "DESC"}
        data = await self.query("ConsoleFlows", {"first": 25, "filter": {}})
        flow = self.pick((data.get("flows") or {}).get("nodes") or [])
        if flow is None:
            await asyncio.sleep(1)
            return
        flow_id = flow["flowId"]
        data = await self.query("ConsoleIntegrations", {
            "flowId": flow_id, "first": 25, "orderBy": {"field": "CREATED_AT", "direction": "DESC"}})
        integrations = ((data.get("flow") or {}).get("integrations") or {}).get("nodes") or []
        await self.query("ListIntegrations", {"flowId": flow_id})
        integration = self.pick(integrations)
        runs: list[Any] = []
        if integration is not None:
            await self.query("ConsoleStatusHistory", {"integrationId": integration["integrationId"]})
            data = await self.query("ConsoleIntegrationRuns", {
                "integrationId": integration["integrationId"], "first": 25, "orderBy": by_start})
            runs = ((data.get("integration") or {}).get("runs") or {}).get("nodes") or []
        await self.query("ConsoleFlowRuns", {"flowId": flow_id, "first": 25, "orderBy": by_start,
                                             "filter": {"status": ["FAILED"]}})
        data = await self.query("ListFailedRuns")
        failures = (data.get("runs") or {}).get("nodes") or []
        run = self.pick(runs) if runs and self.rng.random() < 0.5 else self.pick(failures)
        if run is not None:
            data = await self.query("ConsoleRunSteps", {"runId": run["runId"]})
            steps = (((data.get("run") or {}).get("steps")) or {}).get("nodes") or []
            failed = [s for s in steps if s["status"] == "FAILED"]
            step = self.pick(failed or steps)
            if step is not None:
                await self.query("ConsoleStepPayload", {"stepId": step["stepId"]})
            ids = (await self.query("RunIds", {"runId": run["runId"]})).get("run")
            if ids:
                await self.query("Node", {"id": ids["id"]})
                await self.query("Nodes", {"ids": [ids["integration"]["flow"]["id"],
                                                   ids["integration"]["id"],
                                                   *(s["id"] for s in ids["steps"]["nodes"])]})
        data = await self.query("ConsoleEndUsers", {"flowId": flow_id, "first": 25})
        users = (((data.get("flow") or {}).get("endUsers")) or {}).get("nodes") or []
        user = self.pick(users)
        if user is not None:
            await self.query("ConsoleEndUser", {"flowId": flow_id, "userId": user["userId"]})
        if self.report.walks % 5 == 0:
            await self.query("DeepNested", {"flowId": flow_id})
        self.report.walks += 1


def query_documents() -> dict[str, str]:
    documents = console_queries()
    documents.update(ListIntegrations=bench_api.LIST_INTEGRATIONS,
                     ListFailedRuns=bench_api.LIST_FAILED_RUNS, DeepNested=bench_api.DEEP_NESTED,
                     RunIds=RUN_IDS, Node=NODE, Nodes=NODES)
    return documents


def query_process(conn: Any, urls: list[str], key: str, clients: int, seconds: float,
                  think: float) -> None:
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    documents = query_documents()

    async def main() -> QueryReport:
        report = QueryReport()
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        conn.send("ready")
        await asyncio.to_thread(conn.recv)  # "go"
        end = time.monotonic() + seconds

        async def client_loop(n: int) -> None:
            async with httpx.AsyncClient(base_url=urls[n % len(urls)], headers=headers,
                                         timeout=60) as client:
                walker = Walker(client, documents, report, random.Random(n), think)
                while time.monotonic() < end:
                    await walker.walk()

        await asyncio.gather(*(client_loop(n) for n in range(clients)))
        report.cpu_seconds = time.process_time()
        return report

    conn.send(asyncio.run(main()))
    conn.close()


# --------------------------------------------------------------------------- sampling


def metric_values(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """The sum over label sets of each named metric in a Prometheus text exposition."""
    values = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = re.split(r"[{ ]", line, maxsplit=1)[0]
        if name in values:
            with suppress(ValueError):
                values[name] += float(line.rsplit(" ", 1)[1])
    return values


OUTBOX_METRICS = ("gateway_outbox_pending", "gateway_outbox_oldest_pending_seconds")


@dataclass
class Samples:
    rss: list[tuple[float, list[int]]] = field(default_factory=list)  # (seconds in, per gateway)
    outbox: list[tuple[float, list[dict[str, float]]]] = field(default_factory=list)
    metric_errors: Counter[str] = field(default_factory=Counter)

    def rss_at(self, seconds: float) -> list[int]:
        """The sample nearest to ``seconds`` into the load."""
        return min(self.rss, key=lambda s: abs(s[0] - seconds))[1]


async def read_metrics(client: httpx.AsyncClient, gateways: list[Gateway],
                       samples: Samples) -> list[dict[str, float]]:
    out = []
    for g in gateways:
        try:
            response = await client.get(g.http + "/metrics", timeout=10)
            response.raise_for_status()
            out.append(metric_values(response.text, OUTBOX_METRICS))
        except httpx.HTTPError as error:
            samples.metric_errors[f"/metrics: {type(error).__name__}"] += 1
            out.append(dict.fromkeys(OUTBOX_METRICS, float("nan")))
    return out


async def sample(gateways: list[Gateway], samples: Samples, started: float,
                 done: asyncio.Event) -> None:
    async with httpx.AsyncClient() as client:
        while True:
            at = time.monotonic() - started
            samples.rss.append((at, [bench_live.proc_status(g.proc.pid, "VmRSS") for g in gateways]))
            samples.outbox.append((at, await read_metrics(client, gateways, samples)))
            with suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), SAMPLE_SECONDS)
                return


async def drain_outbox(gateways: list[Gateway], samples: Samples, limit: float) -> float:
    """Waits until the first gateway reports no pending notification; returns the seconds."""
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        while time.monotonic() - started < limit:
            values = (await read_metrics(client, gateways[:1], samples))[0]
            if values["gateway_outbox_pending"] == 0:
                break
            await asyncio.sleep(1)
    return time.monotonic() - started


# --------------------------------------------------------------------------- one run


@dataclass
class Soak:
    args: argparse.Namespace
    database: str = ""
    live: bench_live.Result | None = None
    ingest: IngestReport | None = None
    queries: QueryReport | None = None
    samples: Samples = field(default_factory=Samples)
    rss_before: list[int] = field(default_factory=list)
    gateway_cpu: list[float] = field(default_factory=list)  # CPU seconds during the load
    client_cpu: list[float] = field(default_factory=list)  # of the subscriber processes
    hooks: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    ended: Counter[str] = field(default_factory=Counter)
    load_seconds: float = 0.0
    drain_seconds: float = 0.0
    log_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def spawn(ctx: Any, target_fn: Any, *args: Any) -> tuple[Any, Any]:
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target_fn, args=(child, *args))
    process.start()
    return process, parent


async def run(args: argparse.Namespace) -> Soak:
    from bench_notifications import Receiver

    soak = Soak(args)
    workdir = tempfile.mkdtemp(prefix="gw_soak_work_")
    logdir = Path(tempfile.mkdtemp(prefix="gw_soak_logs_"))  # kept: the gateways' logs
    journal = logdir / "webhooks.jsonl"
    gateways: list[Gateway] = []
    procs: list[Any] = []
    receiver = None
    seconds = args.minutes * 60
    account_subs = min(args.account_subscribers, args.subscribers)
    per_integration = min(args.subscribers - account_subs, args.integrations)
    live = bench_live.Result("postgres+redis, 2 gateway processes", args.integrations,
                             subscribers=per_integration, account_subscribers=account_subs)
    soak.live = live
    ctx = mp.get_context("spawn")
    try:
        async with bench_live.fresh_database(args.pg_url, prefix="gw_soak") as url:
            soak.database = url.rsplit("/", 1)[1]
            log(f"database {soak.database}; seeding {args.integrations:,} integrations")
            await bench_live.seed(url, args.integrations, seed_events(args.integrations))
            env = bench_live.server_env(url, args.redis)
            env["GATEWAY_NOTIFICATIONS_ALLOW_PRIVATE_URLS"] = "true"
            env["GATEWAY_NOTIFICATIONS_ALLOW_HTTP"] = "true"
            keys = {role: await asyncio.to_thread(bench_live.create_key, env, role, workdir)
                    for role in ("viewer", "ingest", "admin")}
            receiver = Receiver(args.receiver_ms / 1000, record=str(journal))
            for _ in range(2):  # one after the other: each migrates at start
                gateways.append(await bench_live.start_gateway(env, workdir, logdir))
            urls = [g.http for g in gateways]
            log(f"gateways on {', '.join(urls)}; receiver on port {receiver.port.value}")
            async with httpx.AsyncClient(base_url=urls[0], timeout=30, headers={
                    "authorization": f"Bearer {keys['admin']}"}) as admin:
                answer = (await admin.post("/graphql", json={"query": SET_NOTIFICATIONS, "variables": {
                    "url": f"http://127.0.0.1:{receiver.port.value}/hook",
                    "interval": args.min_interval}})).json()
            if answer.get("errors"):
                raise RuntimeError(f"setErrorNotifications: {answer['errors']}")

            chunks = bench_live.assign(per_integration, account_subs, gateways, 2)
            log(f"connecting {per_integration + account_subs:,} subscribers from 2 processes")
            pipes = []
            for chunk in chunks:
                process, pipe = spawn(ctx, bench_live.client_process, chunk, keys["viewer"],
                                      100, False)
                procs.append(process)
                pipes.append(pipe)
            for pipe in pipes:
                _tag, ok, failed, _secs = await asyncio.to_thread(pipe.recv)
                live.connected += ok
                live.connect_failed += failed
            await bench_live.wait_idle(gateways, 60)
            soak.rss_before = [bench_live.proc_status(g.proc.pid, "VmRSS") for g in gateways]

            ingester, ingest_pipe = spawn(ctx, ingest_process, urls, keys["ingest"],
                                          args.integrations, args.rate, seconds, args.tick)
            querier, query_pipe = spawn(ctx, query_process, urls, keys["viewer"], args.clients,
                                        seconds, args.think)
            procs += [ingester, querier]
            for pipe in (ingest_pipe, query_pipe):
                await asyncio.to_thread(pipe.recv)  # "ready"
            log(f"{live.connected:,} subscribers connected ({live.connect_failed} failed); "
                f"load for {args.minutes:g} min: {args.rate:g} events/s, {args.clients} query "
                "clients")
            cpu = [bench_live.cpu_seconds(g.proc.pid) for g in gateways]
            client_cpu = [bench_live.cpu_seconds(p.pid) for p in procs[:2]]
            started = time.monotonic()
            for pipe in (ingest_pipe, query_pipe):
                pipe.send("go")
            done = asyncio.Event()
            sampler = asyncio.create_task(sample(gateways, soak.samples, started, done))
            soak.queries = await asyncio.to_thread(query_pipe.recv)
            soak.ingest = await asyncio.to_thread(ingest_pipe.recv)
            soak.load_seconds = time.monotonic() - started
            soak.gateway_cpu = [bench_live.cpu_seconds(g.proc.pid) - c
                                for g, c in zip(gateways, cpu, strict=True)]
            soak.client_cpu = [bench_live.cpu_seconds(p.pid) - c
                               for p, c in zip(procs[:2], client_cpu, strict=True)]
            done.set()
            await sampler
            log("load done; waiting for the outbox to drain and the gateways to go idle")
            soak.drain_seconds = await drain_outbox(gateways, soak.samples, args.drain_limit)
            await bench_live.wait_idle(gateways, args.drain_limit)
            await asyncio.sleep(1.0)
            for pipe in pipes:
                pipe.send("stop")
            reports = [(await asyncio.to_thread(pipe.recv))[1] for pipe in pipes]
            bench_live.tally(live, soak.ingest.published, reports)
            # what ended each subscription the server ended (its error, then its complete)
            soak.ended = Counter(why for rep in reports for why in rep.ended.values())
            for g in gateways:
                soak.log_errors += bench_live.stop_gateway(g)
            gateways.clear()
            soak.notes.append(f"gateway logs and the webhook journal: {logdir}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        for g in gateways:
            bench_live.stop_gateway(g)
        if receiver is not None:
            receiver.stop()
    if journal.exists():
        for line in journal.read_bytes().splitlines():
            at, _, body = line.partition(b" ")
            soak.hooks.append((float(at), orjson.loads(body)))
    return soak


# --------------------------------------------------------------------------- report


def ms(values: list[float]) -> str:
    v = [x * 1000 for x in values]
    return f"{percentile(v, 50):,.0f} / {percentile(v, 99):,.0f} / {max(v, default=float('nan')):,.0f} ms"


def mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB"


def report(s: Soak) -> bool:
    """Prints the tables; True when every target is met."""
    args, live, ing, qry = s.args, s.live, s.ingest, s.queries
    assert live is not None
    assert ing is not None
    assert qry is not None
    errors: Counter[str] = Counter()
    errors.update(qry.errors)
    errors.update(ing.errors)
    for message, count in s.ended.items():  # one line per kind, whatever the request ID
        errors["subscription ended: " + re.sub(r"[0-9a-f]{32}(\.\d+)?", "<id>", message)] += count
    if live.connect_failed:
        errors["subscription: connect failed"] += live.connect_failed
    errors.update(s.samples.metric_errors)
    error_total = sum(errors.values())

    minute = min(60.0, s.load_seconds)
    rss_start = s.samples.rss_at(0)
    rss_minute = s.samples.rss_at(minute)
    rss_middle = s.samples.rss_at(s.load_seconds / 2)
    rss_end = s.samples.rss[-1][1]
    growth = [(e - m) / m for e, m in zip(rss_end, rss_minute, strict=True)]

    failed_hooks = [(at, b) for at, b in s.hooks if b.get("type") == "run.failed"]
    lags = [at - ing.failed_sent[b["run"]["runId"]] for at, b in failed_hooks
            if b.get("run") and b["run"]["runId"] in ing.failed_sent]
    covered = sum(int(b.get("count") or 1) for _at, b in failed_hooks)
    hook_types = Counter(str(b.get("type")) for _at, b in s.hooks)
    outbox = [(at, v) for at, per in s.samples.outbox for v in per[:1]]
    pending = [v["gateway_outbox_pending"] for _at, v in outbox]
    oldest = [v["gateway_outbox_oldest_pending_seconds"] for _at, v in outbox]

    events_per_s = ing.in_window / (args.minutes * 60)
    lat_ms = [x * 1000 for x in live.latencies]
    log_errors = len(s.log_errors)
    ok = error_total == 0 and log_errors == 0 and all(g < RSS_GROWTH_TARGET for g in growth)
    ok = ok and live.lost == 0 and live.duplicates == 0 and covered >= ing.failed_runs

    print()
    print(f"## Soak: {args.minutes:g} min, 2 gateway processes, PostgreSQL + Redis "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print()
    print(f"The gateways, the load generators (1 ingest process, 1 query process with "
          f"{args.clients} clients, 2 subscriber processes) and the webhook receiver share the "
          f"machine's {os.cpu_count()} cores; figures are a lower bound.")
    print()
    print("| measure | figure | target |")
    print("|---|---|---|")
    rows = [
        ("errors (requests, rejected events, subscriptions)", f"{error_total:,}", "0"),
        ("error lines in the gateways' logs", f"{log_errors:,}", "0"),
        ("RSS before the load (subscribers open)", " + ".join(mb(b) for b in s.rss_before), ""),
        ("RSS start / 1 min / middle / end",
         "; ".join(f"gw{n + 1}: {mb(a)} / {mb(b)} / {mb(c)} / {mb(d)}" for n, (a, b, c, d)
                   in enumerate(zip(rss_start, rss_minute, rss_middle, rss_end, strict=True))), ""),
        ("RSS growth after the first minute (end vs 1 min)",
         " / ".join(f"{g * 100:+.1f} %" for g in growth), "< 10 %"),
        ("events ingested", f"{events_per_s:,.0f}/s over the {args.minutes * 60:g} s "
         f"({ing.in_window:,}; {ing.events:,} with the runs under way finished; {ing.runs:,} "
         f"runs, {ing.failed_runs:,} failed; {ing.published.requests:,} requests)",
         f"{args.rate:,.0f}/s"),
        ("ingestEvents request p50 / p99 / max", ms(ing.published.request_seconds), ""),
        ("queries", f"{sum(map(len, qry.seconds.values())):,} in {qry.walks:,} screen walks "
         f"= {sum(map(len, qry.seconds.values())) / max(s.load_seconds, 1e-9):,.1f}/s", ""),
        ("subscribers connected", f"{live.connected:,} ({live.subscribers:,} per integration + "
         f"{live.account_subscribers} whole account), {live.connect_failed} failed", "1,000"),
        ("subscription deliveries expected / received",
         f"{live.expected:,} / {live.received:,}: {live.lost:,} lost ({live.lost_ended:,} on "
         f"the {live.ended} subscriptions the server ended), {live.duplicates:,} twice, "
         f"{live.unexpected:,} unexpected", "none lost"),
        ("subscription delivery latency p50 / p99 / max",
         f"{percentile(lat_ms, 50):,.0f} / {percentile(lat_ms, 99):,.0f} / "
         f"{max(lat_ms, default=float('nan')):,.0f} ms", ""),
        ("webhooks received", ", ".join(f"{t} {c:,}" for t, c in hook_types.most_common())
         + f"; run.failed cover {covered:,} of {ing.failed_runs:,} failed runs", "all failures"),
        ("outbox lag (runFinished sent to webhook received) p50 / p99 / max", ms(lags), ""),
        ("gateway_outbox_pending max / last during the load",
         f"{max(pending, default=float('nan')):,.0f} / {pending[-1] if pending else float('nan'):,.0f}", ""),
        ("gateway_outbox_oldest_pending_seconds max / last",
         f"{max(oldest, default=float('nan')):,.1f} / {oldest[-1] if oldest else float('nan'):,.1f} s", ""),
        ("outbox drained after the load in", f"{s.drain_seconds:.1f} s", ""),
        ("CPU during the load (cores)",
         "gateways " + " + ".join(f"{c / s.load_seconds:.2f}" for c in s.gateway_cpu)
         + "; subscriber clients " + " + ".join(f"{c / s.load_seconds:.2f}" for c in s.client_cpu)
         + f"; ingest {ing.cpu_seconds / s.load_seconds:.2f}"
         + f"; queries {qry.cpu_seconds / s.load_seconds:.2f}", ""),
    ]
    for name, figure, target_text in rows:
        print(f"| {name} | {figure} | {target_text} |")
    print()
    print("| operation | requests | p50 ms | p99 ms | max ms | errors |")
    print("|---|---|---|---|---|---|")
    per_op_errors: Counter[str] = Counter()
    for message, count in errors.items():
        per_op_errors[message.split(":", 1)[0]] += count
    ops = [("ingestEvents", ing.published.request_seconds), *sorted(qry.seconds.items())]
    for op, values in ops:
        v = [x * 1000 for x in values]
        print(f"| {op} | {len(v):,} | {percentile(v, 50):,.0f} | {percentile(v, 99):,.0f} | "
              f"{max(v, default=float('nan')):,.0f} | {per_op_errors.get(op, 0):,} |")
    print()
    if errors:
        print("Errors by operation and code or status:")
        for message, count in errors.most_common():
            first = qry.messages.get(message)
            print(f"- {count:,}x {message}" + (f" (first: {first})" if first else ""))
    for line in s.log_errors[:5]:
        print(f"- gateway log: {line[:300]}")
    if ing.refused_paused:
        print(f"- {ing.refused_paused:,} runs refused as {NOT_RECEIVING} (an integration paused "
              "for too many errors), started elsewhere")
    series = [(at, rss) for at, rss in s.samples.rss if at >= 0]
    every = max(1, round(30 / SAMPLE_SECONDS))
    print("- RSS every 30 s (MB, per gateway): " + ", ".join(
        f"{at:.0f} s " + "/".join(f"{r / 2**20:.0f}" for r in rss) for at, rss in series[::every]))
    for note in [*live.notes, *s.notes]:
        print(f"- {note}")
    print(f"- database {s.database} (dropped); command: python bench/bench_soak.py "
          + " ".join(sys.argv[1:]))
    print(f"- targets {'met' if ok else 'MISSED'}")
    sys.stdout.flush()
    return ok


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10, help="load time (default 10)")
    p.add_argument("--rate", type=float, default=1_000, help="events per second (default 1,000)")
    p.add_argument("--tick", type=float, default=0.05,
                   help="at most one ingest request this often (default 0.05 s)")
    p.add_argument("--integrations", type=int, default=1_000)
    p.add_argument("--subscribers", type=int, default=1_000,
                   help="WebSockets in all: one per integration, the rest whole-account")
    p.add_argument("--account-subscribers", type=int, default=5)
    p.add_argument("--clients", type=int, default=4, help="concurrent query clients (default 4)")
    p.add_argument("--think", type=float, default=0.05,
                   help="seconds a query client waits after each answer (default 0.05)")
    p.add_argument("--min-interval", type=int, default=0,
                   help="the webhook's minIntervalSeconds (default 0: every failure notifies)")
    p.add_argument("--receiver-ms", type=float, default=20,
                   help="the receiver answers each webhook after this long (default 20)")
    p.add_argument("--drain-limit", type=float, default=60,
                   help="after the load, wait at most this long for the outbox and the gateways")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="admin URL of the PostgreSQL server; a database is created and dropped")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0",
                   help="GATEWAY_REDIS_URL for the gateways")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench_live.raise_nofile()
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    soak = asyncio.run(run(args))
    return 0 if report(soak) else 1


if __name__ == "__main__":
    raise SystemExit(main())
