#!/usr/bin/env python3
"""End-to-end API benchmark of the gateway: ingest rate, then read latency under load.

For each backend (SQLite, PostgreSQL) and dataset size N (runs):

1. create a fresh database (SQLite temp file / PostgreSQL ``gw_bench_<random>``) and migrate it;
2. seed N synthetic runs through the real ingest path (``ingestEvents``, batches of 1,000)
   and report the ingest rate in events/s;
3. start a real server (``python -m gateway.cli serve``: uvicorn + uvloop + httptools) in a
   subprocess on a free port, and create a viewer key with ``gateway.cli keys create``;
4. drive each read scenario with an async httpx load generator (C concurrent clients for D
   seconds after a short warm-up);
5. measure SQL statements per request in-process (``create_app`` + ``httpx.ASGITransport`` +
   a ``before_cursor_execute`` listener), after a warm-up so the API-key lookup is cached.

Prints per backend x size x scenario: p50/p99 latency, requests/s, SQL statements per request,
response size, the slowest SQL statement of one request, then the ratios between sizes and
between backends, and a compact table at the end.

Quick smoke run:   python bench/bench_api.py --backend both --sizes 2000 --duration 3
Real figures:      python bench/bench_api.py --backend both --sizes 20000,200000 --duration 10

NB: the load generator and the server share the machine; on a 2-core box the client's own
CPU use (HTTP + JSON parsing) competes with the server, so requests/s are a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

ACCOUNT = "bench"
PROJECT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- queries

FLOWS_QUERY = "query Flows { flows(first: 5) { nodes { flowId } } }"

LIST_INTEGRATIONS = """
query ListIntegrations($flowId: String!) {
  flow(flowId: $flowId) {
    integrations(first: 10, orderBy: {field: LAST_RUN_START, direction: DESC}) {
      totalCount
      edges {
        cursor
        node { integrationId userId status lastRunStart lastRunStatus tasksConsumed }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

LIST_FAILED_RUNS = """
query ListFailedRuns {
  runs(first: 20, filter: {status: [FAILED]}) {
    nodes { runId status networkCode startTime }
  }
}
"""

DEEP_NESTED = """
query DeepNested($flowId: String!) {
  flow(flowId: $flowId) {
    flowId name status
    integrations(first: 10) {
      nodes {
        integrationId userId userAuth status lastRunStart lastRunStatus tasksConsumed
        runs(first: 10) {
          nodes {
            runId triggerName triggerType startTime endTime duration status
            networkCode tasksConsumed
            triggerApp { name }
            steps(first: 5) {
              nodes {
                stepId position name status startTime endTime duration networkCode
                app { name }
                payload {
                  request { method url headers { name value } body }
                  response { statusCode bodyRaw }
                }
              }
            }
          }
        }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    query: str
    needs_flow: bool


SCENARIOS = (
    Scenario("list_integrations", "a1 list: flow.integrations(10, LAST_RUN_START)", LIST_INTEGRATIONS, True),
    Scenario("list_failed_runs", "a2 list: runs(20, status FAILED)", LIST_FAILED_RUNS, False),
    Scenario("deep_nested", "b  deep: flow>10 int>10 runs>5 steps+payload", DEEP_NESTED, True),
)

# --------------------------------------------------------------------------- results


@dataclass
class ScenarioResult:
    scenario: str
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    rps: float = float("nan")
    requests: int = 0
    errors: int = 0
    sql_per_request: int = -1
    response_kb: float = float("nan")
    fields: int = 0
    slowest_sql_ms: float = float("nan")
    slowest_sql: str = ""
    in_process_ms: float = float("nan")
    tx_statements: int = 0  # driver-level BEGIN/ROLLBACK (SQLite only), not in sql_per_request


@dataclass
class CaseResult:
    backend: str
    size: int
    events: int = 0
    ingest_seconds: float = float("nan")
    scenarios: dict[str, ScenarioResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ingest_rate(self) -> float:
        return self.events / self.ingest_seconds if self.ingest_seconds else float("nan")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def out(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- databases


def to_asyncpg_url(admin_url: str, dbname: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, "/" + dbname, parts.query, ""))


def to_plain_pg(admin_url: str) -> str:
    parts = urlsplit(admin_url)
    scheme = "postgresql" if parts.scheme.startswith("postgres") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


@asynccontextmanager
async def fresh_database(backend: str, pg_admin_url: str):
    """Yields a SQLAlchemy URL for a new empty database; removes it afterwards."""
    if backend == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="gw_bench_"))
        try:
            yield f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    import asyncpg

    name = f"gw_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(to_plain_pg(pg_admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield to_asyncpg_url(pg_admin_url, name)
    finally:
        admin = await asyncpg.connect(to_plain_pg(pg_admin_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# --------------------------------------------------------------------------- seeding


class LineProgress:
    """Progress for ingest_all that prints a line every ~10 % (works when not a tty)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done = total, label, 0
        self.started = time.monotonic()
        self.next_report = total / 10

    def advance(self, n: int) -> None:
        self.done += n
        if self.done >= self.next_report:
            self.next_report += self.total / 10
            rate = self.done / max(time.monotonic() - self.started, 1e-9)
            log(f"  {self.label}: {self.done:,}/{self.total:,} events ({rate:,.0f}/s)")

    def close(self) -> None:
        pass


async def seed(url: str, runs: int, label: str) -> tuple[int, float]:
    from gateway.config import Settings
    from gateway.db import accounts
    from gateway.seed.loader import ingest_all
    from gateway.seed.synthetic import synthetic_event_count, synthetic_events
    from gateway.services import Services

    total = synthetic_event_count(runs)
    services = Services.from_settings(Settings(database_url=url))
    try:
        async with services.db.write() as conn:
            await accounts.ensure_account(conn, ACCOUNT)
        started = time.perf_counter()
        totals = await ingest_all(
            services, ACCOUNT, synthetic_events(runs), LineProgress(total, label)  # type: ignore[arg-type]
        )
        elapsed = time.perf_counter() - started
    finally:
        await services.close()
    if totals["accepted"] != total:
        log(f"  WARNING: expected {total} accepted events, got {totals}")
    return totals["accepted"], elapsed


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = url
    env["PYTHONPATH"] = str(PROJECT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def create_viewer_key(url: str, workdir: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", "create", "--account", ACCOUNT,
         "--role", "viewer", "--name", "bench"],
        env=server_env(url), cwd=workdir, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"keys create failed: {proc.stderr.strip()}")
    return proc.stdout.strip().splitlines()[-1].strip()


@asynccontextmanager
async def running_server(url: str, workdir: str):
    port = free_port()
    logfile = open(Path(workdir) / f"server-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=server_env(url), cwd=workdir, stdout=logfile, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {proc.returncode}: "
                        + (Path(workdir) / f"server-{port}.log").read_text()[-2000:]
                    )
                try:
                    r = await client.get(base + "/healthz", timeout=1)
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not become healthy within 60 s")
                await asyncio.sleep(0.2)
        yield base, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        logfile.close()
        tail = (Path(workdir) / f"server-{port}.log").read_text()
        errors = [ln for ln in tail.splitlines() if "Traceback" in ln or "ERROR" in ln]
        if errors:
            log(f"  server log had {len(errors)} error lines, e.g.: {errors[0][:300]}")


# --------------------------------------------------------------------------- load


def graphql_errors(content: bytes) -> list[Any] | None:
    body = orjson.loads(content)
    return body.get("errors") or (None if body.get("data") is not None else ["no data"])


def count_fields(value: Any) -> int:
    if isinstance(value, dict):
        return sum(1 + count_fields(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_fields(v) for v in value)
    return 0


def payloads(scenario: Scenario, flow_ids: list[str]) -> Iterator[bytes]:
    i = 0
    while True:
        variables = {"flowId": flow_ids[i % len(flow_ids)]} if scenario.needs_flow else {}
        yield orjson.dumps({"query": scenario.query, "variables": variables})
        i += 1


async def load(
    base: str, key: str, scenario: Scenario, flow_ids: list[str], concurrency: int,
    duration: float, warmup: float,
) -> tuple[list[float], int, float]:
    """Returns (latencies in s of the measured window, errors, measured wall time)."""
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    first_error: list[str] = []
    bodies = payloads(scenario, flow_ids)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                 timeout=120) as client:
        t_start = time.perf_counter()
        measure_from = t_start + warmup
        stop_at = measure_from + duration

        async def worker() -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                body = next(bodies)
                try:
                    r = await client.post("/graphql", content=body)
                    ok = r.status_code == 200 and not graphql_errors(r.content)
                    if not ok and not first_error:
                        first_error.append(f"HTTP {r.status_code}: {r.text[:300]}")
                except httpx.HTTPError as e:
                    ok = False
                    if not first_error:
                        first_error.append(repr(e))
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= stop_at + 30:
                    latencies.append(t1 - t0)
                    if not ok:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - measure_from
    if first_error:
        log(f"  first error in {scenario.key}: {first_error[0]}")
    return latencies, errors, wall


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))
    return s[k]


# --------------------------------------------------------------------------- SQL counting


@dataclass
class SqlProbe:
    flow_ids: list[str]
    per_scenario: dict[str, tuple[int, float, str, Any, float, int, float, int]]
    explains: dict[str, str]


_TX_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"})


async def probe_sql(url: str, scenarios: list[Scenario], explain: bool) -> SqlProbe:
    """Runs each query in-process and counts the SQL statements of one request."""
    from sqlalchemy import event

    from gateway.app import create_app
    from gateway.auth.keys import create_key
    from gateway.config import Settings

    app = create_app(Settings(database_url=url, key_cache_seconds=3600))
    services = app.state.services
    engine = services.db.engine
    key = await create_key(services.db, ACCOUNT, "viewer", "bench-probe")
    statements: list[tuple[str, Any, float]] = []
    tx_statements: list[str] = []
    started: dict[int, float] = {}
    recording = False

    def before(conn, cursor, statement, parameters, context, executemany):
        started[id(cursor)] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        elapsed = time.perf_counter() - started.pop(id(cursor), time.perf_counter())
        if recording:
            if statement.strip().split(None, 1)[0].upper() in _TX_CONTROL:
                tx_statements.append(statement)
            else:
                statements.append((statement, parameters, elapsed))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    result: dict[str, tuple[int, float, str, Any, float, int, float, int]] = {}
    explains: dict[str, str] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://probe",
            headers={"authorization": f"Bearer {key}"}, timeout=300,
        ) as client:
            r = await client.post("/graphql", json={"query": FLOWS_QUERY})
            body = r.json()
            if body.get("errors"):
                raise RuntimeError(f"flows query failed: {body['errors']}")
            flow_ids = [n["flowId"] for n in body["data"]["flows"]["nodes"]]
            if not flow_ids:
                raise RuntimeError("no flows in the seeded database")
            for sc in scenarios:
                variables = {"flowId": flow_ids[0]} if sc.needs_flow else {}
                payload = {"query": sc.query, "variables": variables}
                warm = await client.post("/graphql", json=payload)  # warm-up (key, caches)
                if warm.status_code != 200 or warm.json().get("errors"):
                    raise RuntimeError(f"{sc.key} failed: {warm.text[:500]}")
                statements.clear()
                tx_statements.clear()
                recording = True
                t0 = time.perf_counter()
                r = await client.post("/graphql", json=payload)
                wall = time.perf_counter() - t0
                recording = False
                nfields = count_fields(r.json().get("data"))
                slowest = max(statements, key=lambda s: s[2]) if statements else ("", None, 0.0)
                result[sc.key] = (len(statements), len(r.content) / 1024, slowest[0],
                                  slowest[1], slowest[2] * 1000, nfields, wall * 1000,
                                  len(tx_statements))
                if explain and slowest[0]:
                    explains[sc.key] = await explain_statement(engine, slowest[0], slowest[1])
    finally:
        await services.close()
    return SqlProbe(flow_ids, result, explains)


async def explain_statement(engine: Any, statement: str, parameters: Any) -> str:
    prefix = ("EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite"
              else "EXPLAIN (ANALYZE, BUFFERS) ")
    try:
        async with engine.connect() as conn:
            rows = (await conn.exec_driver_sql(prefix + statement, parameters)).fetchall()
            await conn.rollback()
    except Exception as e:  # report, never fail the benchmark over EXPLAIN
        return f"(EXPLAIN failed: {e})"
    if engine.dialect.name == "sqlite":
        return "\n".join(f"{r[0]}|{r[1]}|{r[3]}" for r in rows)
    return "\n".join(r[0] for r in rows)


# --------------------------------------------------------------------------- one case


async def run_case(backend: str, size: int, args: argparse.Namespace) -> CaseResult:
    from gateway.db.migrate import upgrade

    case = CaseResult(backend, size)
    scenarios = [s for s in SCENARIOS if s.key in args.scenarios]
    workdir = tempfile.mkdtemp(prefix="gw_bench_work_")
    try:
        async with fresh_database(backend, args.pg_url) as url:
            log(f"[{backend} N={size:,}] database {url}")
            await asyncio.to_thread(upgrade, url)
            log(f"[{backend} N={size:,}] seeding {size:,} runs through ingestEvents ...")
            case.events, case.ingest_seconds = await seed(url, size, f"{backend} N={size:,}")
            log(f"[{backend} N={size:,}] ingested {case.events:,} events in "
                f"{case.ingest_seconds:.1f} s = {case.ingest_rate:,.0f} events/s")
            if backend == "postgres":
                await analyze_pg(url)

            probe = await probe_sql(url, scenarios, args.explain)
            key = await asyncio.to_thread(create_viewer_key, url, workdir)
            async with running_server(url, workdir) as (base, _proc):
                for sc in scenarios:
                    log(f"[{backend} N={size:,}] {sc.key}: {args.concurrency} clients x "
                        f"{args.duration:g} s ...")
                    lat, errors, wall = await load(
                        base, key, sc, probe.flow_ids, args.concurrency, args.duration,
                        args.warmup,
                    )
                    res = ScenarioResult(sc.key)
                    res.requests, res.errors = len(lat), errors
                    res.p50_ms = percentile(lat, 50) * 1000
                    res.p99_ms = percentile(lat, 99) * 1000
                    res.rps = len(lat) / wall if wall > 0 else float("nan")
                    (res.sql_per_request, res.response_kb, res.slowest_sql, _params,
                     res.slowest_sql_ms, res.fields, res.in_process_ms,
                     res.tx_statements) = probe.per_scenario[sc.key]
                    case.scenarios[sc.key] = res
                    if sc.key in probe.explains:
                        case.notes.append(
                            f"EXPLAIN of the slowest statement of {sc.key} "
                            f"({res.slowest_sql_ms:.1f} ms):\n{res.slowest_sql}\n"
                            f"{probe.explains[sc.key]}"
                        )
                    log(f"    p50 {res.p50_ms:.1f} ms  p99 {res.p99_ms:.1f} ms  "
                        f"{res.rps:.1f} req/s  {res.requests} reqs  {errors} errors")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return case


async def analyze_pg(url: str) -> None:
    """Autovacuum may not have analysed freshly loaded tables yet; a real deployment would
    have statistics, so run ANALYZE once (reported in the output)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- report


def fmt(v: float, digits: int = 1) -> str:
    return "n/a" if v != v else f"{v:,.{digits}f}"


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def report(cases: list[CaseResult], args: argparse.Namespace) -> None:
    out()
    out("## Ingest (seeding through ingestEvents, batches of 1,000, in-process)")
    out()
    out("| backend | runs | events | seconds | events/s |")
    out("|---|---:|---:|---:|---:|")
    for c in cases:
        out(f"| {c.backend} | {c.size:,} | {c.events:,} | {fmt(c.ingest_seconds)} | "
            f"{fmt(c.ingest_rate, 0)} |")

    out()
    out(f"## Read scenarios ({args.concurrency} concurrent clients, {args.duration:g} s each, "
        f"after {args.warmup:g} s warm-up; HTTP to uvicorn+uvloop+httptools)")
    out()
    out("SQL/req counts data statements of one request (the API-key lookup is cached); "
        "+tx is the extra BEGIN/ROLLBACK statements SQLite's driver-level transactions add. "
        "'slowest SQL ms' is wall time between before/after_cursor_execute, so it includes "
        "event-loop waits while other resolvers run.")
    out()
    out("| backend | runs | scenario | p50 ms | p99 ms | req/s | reqs | errors | SQL/req "
        "| +tx | resp KB | fields | 1-req in-proc ms | slowest SQL ms |")
    out("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in cases:
        for r in c.scenarios.values():
            out(f"| {c.backend} | {c.size:,} | {r.scenario} | {fmt(r.p50_ms)} | {fmt(r.p99_ms)} "
                f"| {fmt(r.rps)} | {r.requests} | {r.errors} | {r.sql_per_request} "
                f"| {r.tx_statements} | {fmt(r.response_kb)} | {r.fields:,} | {fmt(r.in_process_ms)} "
                f"| {fmt(r.slowest_sql_ms, 2)} |")

    sizes = sorted({c.size for c in cases})
    backends = list(dict.fromkeys(c.backend for c in cases))
    by = {(c.backend, c.size): c for c in cases}
    keys = list(dict.fromkeys(k for c in cases for k in c.scenarios))

    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        out()
        out(f"## Size scaling: {hi:,} runs vs {lo:,} runs ({hi / lo:g}x data)")
        out()
        out("| backend | scenario | p50 ratio | p99 ratio | req/s ratio | SQL/req ratio |")
        out("|---|---|---:|---:|---:|---:|")
        for b in backends:
            for k in keys:
                a, z = by.get((b, lo)), by.get((b, hi))
                if not a or not z or k not in a.scenarios or k not in z.scenarios:
                    continue
                ra, rz = a.scenarios[k], z.scenarios[k]
                out(f"| {b} | {k} | {ratio(rz.p50_ms, ra.p50_ms)} | {ratio(rz.p99_ms, ra.p99_ms)} "
                    f"| {ratio(rz.rps, ra.rps)} | {ratio(rz.sql_per_request, ra.sql_per_request)} |")
        for b in backends:
            a, z = by.get((b, lo)), by.get((b, hi))
            if a and z:
                out(f"\n- {b} ingest rate at {hi:,} vs {lo:,}: "
                    f"{ratio(z.ingest_rate, a.ingest_rate)}")

    if "sqlite" in backends and "postgres" in backends:
        out()
        out("## Backends: postgres / sqlite")
        out()
        out("| runs | scenario | p50 ratio | p99 ratio | req/s ratio |")
        out("|---:|---|---:|---:|---:|")
        for s in sizes:
            a, z = by.get(("sqlite", s)), by.get(("postgres", s))
            if not a or not z:
                continue
            for k in keys:
                if k in a.scenarios and k in z.scenarios:
                    ra, rz = a.scenarios[k], z.scenarios[k]
                    out(f"| {s:,} | {k} | {ratio(rz.p50_ms, ra.p50_ms)} "
                        f"| {ratio(rz.p99_ms, ra.p99_ms)} | {ratio(rz.rps, ra.rps)} |")
            out(f"| {s:,} | ingest events/s | {ratio(z.ingest_rate, a.ingest_rate)} | | |")

    out()
    out("## Slowest SQL statement of one request (in-process probe, wall ms)")
    out()
    for c in cases:
        for r in c.scenarios.values():
            sql = " ".join(r.slowest_sql.split())
            out(f"- {c.backend} {c.size:,} {r.scenario}: {fmt(r.slowest_sql_ms, 2)} ms: "
                f"`{sql[:400]}{'...' if len(sql) > 400 else ''}`")
    notes = [n for c in cases for n in c.notes]
    if notes:
        out()
        out("## EXPLAIN")
        for c in cases:
            for n in c.notes:
                out()
                out(f"### {c.backend} {c.size:,}")
                out("```")
                out(n)
                out("```")

    out()
    out("## Compact table (p50 / p99 ms, req/s, SQL per request, KB)")
    out()
    header = "| backend | runs | ingest ev/s | " + " | ".join(keys) + " |"
    out(header)
    out("|---|---:|---:|" + "---|" * len(keys))
    for c in cases:
        cells = []
        for k in keys:
            r = c.scenarios.get(k)
            cells.append("-" if r is None else
                         f"{fmt(r.p50_ms)}/{fmt(r.p99_ms)} ms, {fmt(r.rps)} rps, "
                         f"{r.sql_per_request} SQL, {fmt(r.response_kb)} KB")
        out(f"| {c.backend} | {c.size:,} | {fmt(c.ingest_rate, 0)} | " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--sizes", default="20000,200000",
                   help="comma-separated dataset sizes in runs (default 20000,200000)")
    p.add_argument("--duration", type=float, default=10, help="seconds per scenario")
    p.add_argument("--warmup", type=float, default=2, help="warm-up seconds per scenario")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                   help="admin URL used to create/drop the benchmark databases")
    p.add_argument("--scenarios", default=",".join(s.key for s in SCENARIOS),
                   help="comma-separated subset of: " + ", ".join(s.key for s in SCENARIOS))
    p.add_argument("--explain", action="store_true",
                   help="EXPLAIN the slowest SQL statement of each scenario")
    args = p.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - {s.key for s in SCENARIOS}
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


async def amain(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    out(f"# Gateway API benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    out()
    out(f"- command: `python bench/bench_api.py {' '.join(sys.argv[1:])}`")
    out(f"- machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}; "
        "server and load generator share the cores")
    cases: list[CaseResult] = []
    failed = 0
    for backend in backends:
        for size in args.sizes:
            try:
                case = await run_case(backend, size, args)
                cases.append(case)
                # a per-case line now, so an interrupted run still leaves its figures
                for r in case.scenarios.values():
                    out(f"- done {backend} N={size:,} ingest {fmt(case.ingest_rate, 0)} ev/s; "
                        f"{r.scenario}: p50 {fmt(r.p50_ms)} ms, p99 {fmt(r.p99_ms)} ms, "
                        f"{fmt(r.rps)} req/s, {r.sql_per_request} SQL (+{r.tx_statements} tx), "
                        f"{fmt(r.response_kb)} KB, in-proc {fmt(r.in_process_ms)} ms")
            except Exception as e:  # keep going with the other cases
                failed += 1
                log(f"[{backend} N={size:,}] FAILED: {type(e).__name__}: {e}")
                out(f"- {backend} N={size:,} FAILED: {type(e).__name__}: {e}")
    report(cases, args)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
