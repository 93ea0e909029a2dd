#!/usr/bin/env python3
"""Read latency of the dashboard while ``gateway purge`` deletes old runs, against none.

For each backend (a SQLite file; PostgreSQL when it answers at ``--pg-url``, in a database
``gw_bench_purge_<random>`` created there and dropped at the end):

1. migrate a fresh database and seed it directly (bulk inserts, not ingest: a million runs
   through ingest takes hours) with ``--runs`` runs spread evenly over the last 60 days, each
   with ``--steps`` steps and their payloads, so about half are older than 30 days; 0.1 % of
   the old runs are still RUNNING (they must be kept);
2. read for ``--seconds`` with one client, in process (``create_app`` + ``httpx``), the two
   dashboard queries below, and record each request's latency: the baseline;
3. run ``gateway purge --older-than 30d`` (the CLI's own code, ``gateway.cli.main``) in a
   subprocess, started and imported beforehand so that only the purge is timed, and read the
   same way until it exits: latency during the purge; then again for ``--seconds``: after;
4. print requests, p50, p99 and max per query side by side (before / during / after), the
   purge's duration and summary line, and that the old RUNNING runs are still there.

    python bench/bench_purge.py                        # 100,000 runs, SQLite and PostgreSQL
    python bench/bench_purge.py --runs 1000000 --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from sqlalchemy import func, select  # noqa: E402

from gateway.actions.task_limits import user_key  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.auth.keys import create_key  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.db import tables as t  # noqa: E402
from gateway.db.engine import Database  # noqa: E402
from gateway.db.migrate import upgrade  # noqa: E402

ACCOUNT = "bench"
DAYS = 60
CHUNK = 5_000  # runs per seeding transaction

RUN_DETAIL = """
query RunDetail($id: String!) {
  integration(integrationId: $id) {
    runs(first: 25) {
      nodes { runId status startTime duration networkCode tasksConsumed
              steps { nodes { stepId status networkCode } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
FAILURES = """
query Failures {
  runs(first: 20, filter: {status: [FAILED]}) {
    nodes { runId startTime networkCode integration { integrationId userId } }
  }
}
"""
QUERIES = {"run_detail": RUN_DETAIL, "failures": FAILURES}


# --- seeding -------------------------------------------------------------------------------


RUN_COLUMNS = (
    "account_id",
    "run_id",
    "integration_id",
    "flow_id",
    "trigger_app_id",
    "trigger_name",
    "trigger_type",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "network_code",
    "network_code_position",
    "tasks_consumed",
)
STEP_COLUMNS = (
    "account_id",
    "step_id",
    "run_id",
    "position",
    "app_id",
    "name",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "network_code",
    "tasks",
    "has_payload",
)
PAYLOAD_COLUMNS = (
    "account_id",
    "step_id",
    "request_method",
    "request_url",
    "request_headers",
    "request_body",
    "request_size",
    "request_truncated",
    "response_status",
    "response_headers",
    "response_body",
    "response_size",
    "response_truncated",
    "objects",
)
BODY = '{"id": 12345, "name": "Contact", "email": "someone@example.com", "tags": []}' * 6
HEADERS = orjson.dumps([{"name": "Content-Type", "value": "application/json"}]).decode()
URL = "https://api.hubapi.com/crm/v3/objects/contacts"


def _rows(
    start: int, count: int, total: int, now: datetime, steps: int, integrations: int, sqlite: bool
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of runs ``start`` to ``start + count`` (of ``total``, the last started now), as
    tuples in the column orders above, in the driver's types."""
    runs, step_rows, payloads = [], [], []
    span = DAYS * 86_400
    cutoff = now - timedelta(days=30)
    yes, no = (1, 0) if sqlite else (True, False)

    def moment(value: datetime | None) -> Any:
        if value is None or not sqlite:
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")

    for n in range(start, start + count):
        started = now - timedelta(seconds=span * (total - n) / total)
        roll = n % 1000
        status = "RUNNING" if roll == 7 else ("FAILED" if roll % 7 == 0 else "OK")
        if started >= cutoff and n > total - 50:
            status = "RUNNING"
        run_id = f"run-{n:08d}"
        ended = None if status == "RUNNING" else started + timedelta(seconds=3)
        begin, end = moment(started), moment(ended)
        duration = None if ended is None else 3000
        runs.append(
            (
                ACCOUNT,
                run_id,
                f"int-{n % integrations:05d}",
                f"flow-{n % integrations % 10}",
                "slack",
                "New message",
                "WEBHOOK",
                begin,
                end,
                duration,
                status,
                500 if status == "FAILED" else 200,
                steps - 1,
                steps if status == "OK" else steps - 1,
            )
        )
        for p in range(steps):
            step_id = f"{run_id}-s{p}"
            failed = status == "FAILED" and p == steps - 1
            step_status = "FAILED" if failed else ("RUNNING" if ended is None else "OK")
            code = 500 if failed else 200
            step_rows.append(
                (
                    ACCOUNT,
                    step_id,
                    run_id,
                    p,
                    "hubspot",
                    f"Step {p}",
                    begin,
                    end,
                    None if ended is None else 1000,
                    step_status,
                    code,
                    0 if step_status != "OK" else 1,
                    yes,
                )
            )
            payloads.append(
                (
                    ACCOUNT,
                    step_id,
                    "POST",
                    URL,
                    HEADERS,
                    BODY,
                    len(BODY),
                    no,
                    code,
                    HEADERS,
                    BODY,
                    len(BODY),
                    no,
                    "[]",
                )
            )
    return runs, step_rows, payloads


def _static_rows(now: datetime, integrations: int) -> dict[str, list[dict[str, Any]]]:
    long_ago = now - timedelta(days=DAYS + 1)
    return {
        "accounts": [
            {
                "account_id": ACCOUNT,
                "name": ACCOUNT,
                "created_at": long_ago,
                "auto_pause_after_failures": 10,
            }
        ],
        "apps": [
            {
                "account_id": ACCOUNT,
                "app_id": a,
                "name": a,
                "name_folded": a,
                "updated_at": long_ago,
            }
            for a in ("slack", "hubspot")
        ],
        "flows": [
            {
                "account_id": ACCOUNT,
                "flow_id": f"flow-{f}",
                "name": f"Flow {f}",
                "name_folded": f"flow {f}",
                "status": "PUBLISHED",
                "created_at": long_ago,
                "updated_at": long_ago,
                "tasks_consumed": 0,
            }
            for f in range(10)
        ],
        "integrations": [
            {
                "account_id": ACCOUNT,
                "integration_id": f"int-{i:05d}",
                "flow_id": f"flow-{i % 10}",
                "user_id": f"user-{i}@example.com",
                "created_at": long_ago,
                "status": "ENABLED",
                "status_changed_at": long_ago,
                "last_run_start": now,
                "last_run_status": "OK",
                "tasks_consumed": 0,
                "consecutive_failures": 0,
            }
            for i in range(integrations)
        ],
        "end_users": [
            {
                "account_id": ACCOUNT,
                "user_id": f"user-{i}@example.com",
                "user_key": user_key(f"user-{i}@example.com"),
                "last_active_at": now,
                "tasks_consumed": 0,
                "period_tasks": 0,
            }
            for i in range(integrations)
        ],
        "integration_status_changes": [
            {
                "account_id": ACCOUNT,
                "integration_id": f"int-{i:05d}",
                "at": long_ago,
                "to_status": "ENABLED",
                "actor_kind": "ENGINE",
                "actor_name": "engine",
            }
            for i in range(integrations)
        ],
    }


class Writer:
    """Bulk rows straight through the driver (sqlite3, asyncpg COPY): a seed, not the API."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")

    async def __aenter__(self) -> Writer:
        if self.sqlite:
            import sqlite3

            self.db = sqlite3.connect(self.url.split("///", 1)[1])
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
        else:
            import asyncpg

            self.pg = await asyncpg.connect(self.url.replace("postgresql+asyncpg", "postgresql"))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.sqlite:
            self.db.execute("ANALYZE")
            self.db.commit()
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()
        else:
            await self.pg.execute("ANALYZE")
            await self.pg.close()

    @staticmethod
    def _plain(value: Any, sqlite: bool) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ") if sqlite else value
        if isinstance(value, list | dict):
            return orjson.dumps(value).decode()
        if isinstance(value, bool) and sqlite:
            return int(value)
        return value

    async def write_dicts(self, table: str, rows: list[dict[str, Any]]) -> None:
        columns = tuple(rows[0])
        records = [tuple(self._plain(row[c], self.sqlite) for c in columns) for row in rows]
        await self.write(table, columns, records)

    async def write(
        self, table: str, columns: tuple[str, ...], records: list[tuple[Any, ...]]
    ) -> None:
        if self.sqlite:
            marks = ", ".join("?" for _ in columns)
            self.db.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", records
            )
        else:
            await self.pg.copy_records_to_table(table, records=records, columns=columns)

    async def commit(self) -> None:
        if self.sqlite:
            self.db.commit()


async def seed(url: str, total: int, steps: int, integrations: int) -> float:
    started = time.monotonic()
    now = datetime.now(UTC)
    async with Writer(url) as writer:
        for table, rows in _static_rows(now, integrations).items():
            await writer.write_dicts(table, rows)
        done = 0
        for start in range(0, total, CHUNK):
            count = min(CHUNK, total - start)
            runs, steps_, payloads = _rows(
                start, count, total, now, steps, integrations, writer.sqlite
            )
            await writer.write("runs", RUN_COLUMNS, runs)
            await writer.write("steps", STEP_COLUMNS, steps_)
            await writer.write("payloads", PAYLOAD_COLUMNS, payloads)
            await writer.commit()
            done += count
            if done % (CHUNK * 50) == 0 or done == total:
                rate = done / (time.monotonic() - started)
                print(f"  seeded {done:,}/{total:,} runs ({rate:,.0f} runs/s)", file=sys.stderr)
    return time.monotonic() - started


# --- reading -------------------------------------------------------------------------------


async def read_while(
    http: httpx.AsyncClient, integrations: int, keep_going: Any
) -> dict[str, list[float]]:
    """Each query in turn until ``keep_going()`` is false; latencies in ms per query."""
    latencies: dict[str, list[float]] = {name: [] for name in QUERIES}
    rng = random.Random(7)
    while keep_going():
        for name, query in QUERIES.items():
            variables = {"id": f"int-{rng.randrange(integrations):05d}"} if "$id" in query else {}
            began = time.perf_counter()
            response = await http.post("/graphql", json={"query": query, "variables": variables})
            latencies[name].append((time.perf_counter() - began) * 1000)
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"{name} failed: {response.status_code} {body}")
    return latencies


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- one backend ---------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="gw_bench_purge_"))
    try:
        yield f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    import asyncpg

    name = f"gw_bench_purge_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_reachable(admin_url: str) -> bool:
    import asyncpg

    async def ping() -> None:
        conn = await asyncpg.connect(admin_url, timeout=3)
        await conn.close()

    try:
        asyncio.run(ping())
        return True
    except (OSError, asyncpg.PostgresError):
        return False


async def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    seed_seconds = await seed(url, args.runs, args.steps, args.integrations)
    db = Database.from_url(url)
    try:
        key = await create_key(db, ACCOUNT, "viewer")
        old_running = await _count(db, before=datetime.now(UTC) - timedelta(days=30), running=True)
    finally:
        await db.dispose()
    settings = Settings(database_url=url, retention_sweep_seconds=0, key_cache_seconds=60)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    out: dict[str, Any] = {"seed_seconds": seed_seconds}
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://bench",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    ) as http:
        await read_while(http, args.integrations, _for(args.seconds))  # warm-up
        out["before"] = await read_while(http, args.integrations, _for(args.seconds))
        # The purge in its own process, as `gateway purge` runs next to a server: imported
        # and ready first, so only the purge itself is timed.
        env = {**os.environ, "GATEWAY_DATABASE_URL": url, "PYTHONPATH": str(PROJECT)}
        env["GATEWAY_PURGE_BATCH_SIZE"] = str(args.batch_size)
        env["GATEWAY_PURGE_PAUSE_SECONDS"] = str(args.pause)
        purge = subprocess.Popen(
            [sys.executable, __file__, "--purge-worker"],
            env=env,
            cwd=PROJECT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert purge.stdin is not None
        assert purge.stdout is not None
        if purge.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the purge did not start: {purge.communicate()[1]}")
        cutoff = datetime.now(UTC) - timedelta(days=30)
        began = time.monotonic()
        purge.stdin.write("go\n")
        purge.stdin.flush()
        out["during"] = await read_while(http, args.integrations, lambda: purge.poll() is None)
        out["purge_seconds"] = time.monotonic() - began
        out["purge_summary"] = (purge.stderr.read() if purge.stderr else "").strip()
        if purge.returncode != 0:
            raise RuntimeError(f"purge failed: {out['purge_summary']}")
        out["after"] = await read_while(http, args.integrations, _for(args.seconds))
    await app.state.services.close()
    db = Database.from_url(url)
    try:
        kept = await _count(db, before=cutoff, running=True)
        out["old_running_kept"] = (old_running, kept)
        out["old_left"] = await _count(db, before=cutoff, running=False)
        out["runs_left"] = await _count(db)
    finally:
        await db.dispose()
    return out


def _for(seconds: float) -> Any:
    end = time.monotonic() + seconds
    return lambda: time.monotonic() < end


async def _count(db: Database, before: datetime | None = None, running: bool | None = None) -> int:
    r = t.runs
    where = [r.c.account_id == ACCOUNT]
    if before is not None:
        where.append(r.c.start_time < before)
    if running is not None:
        where.append((r.c.status == "RUNNING") if running else (r.c.status != "RUNNING"))
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).where(*where)) or 0)


def report(backend: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    print(
        f"\n== {backend}: {args.runs:,} runs x {args.steps} steps (+ payloads), "
        f"seeded in {out['seed_seconds']:.0f} s"
    )
    print(f"purge: {out['purge_summary']}")
    print(
        f"purge wall time {out['purge_seconds']:.1f} s, batch size {args.batch_size}, "
        f"pause {args.pause:g} s; "
        f"old RUNNING runs kept {out['old_running_kept'][1]}/{out['old_running_kept'][0]}, "
        f"old finished left {out['old_left']}, runs left {out['runs_left']:,}"
    )
    phases = ("before", "during", "after")
    print(f"{'latency ms':<22}" + "".join(f"{p + ' purge':>16}" for p in phases))
    for name in QUERIES:
        rows = {
            "requests": lambda v: f"{len(v):>16,}",
            "p50": lambda v: f"{_p(v, 0.5):>16.1f}",
            "p99": lambda v: f"{_p(v, 0.99):>16.1f}",
            "max": lambda v: f"{max(v, default=float('nan')):>16.1f}",
        }
        for label, figure in rows.items():
            print(f"{name + ' ' + label:<22}" + "".join(figure(out[p][name]) for p in phases))


def purge_worker() -> None:
    """The purge process: `gateway purge --older-than 30d`, once the parent says go."""
    from gateway import cli
    from gateway.actions import retention  # noqa: F401  (imported before the clock starts)
    from gateway.db import migrate  # noqa: F401

    print("ready", flush=True)
    sys.stdin.readline()
    raise SystemExit(cli.main(["purge", "--older-than", "30d"]))


def main() -> None:
    if sys.argv[1:] == ["--purge-worker"]:
        purge_worker()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs to seed (default 100,000)")
    parser.add_argument("--steps", type=int, default=3, help="steps (and payloads) per run")
    parser.add_argument("--integrations", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0, help="baseline reading time")
    parser.add_argument("--batch-size", type=int, default=500, help="GATEWAY_PURGE_BATCH_SIZE")
    parser.add_argument(
        "--pause", type=float, default=0.02, help="GATEWAY_PURGE_PAUSE_SECONDS between batches"
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "GATEWAY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="an admin connection to create (and drop) the benchmark's database",
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "sqlite":
            with sqlite_database() as url:
                upgrade(url)
                report(backend, args, asyncio.run(bench(url, args)))
            continue
        if not postgres_reachable(args.pg_url):
            print(f"\n== postgres: not reachable at {args.pg_url}; skipped")
            continue
        with postgres_database(args.pg_url) as url:
            upgrade(url)
            report(backend, args, asyncio.run(bench(url, args)))


if __name__ == "__main__":
    main()
