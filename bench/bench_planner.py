#!/usr/bin/env python3
"""The planned executor beside strawberry: the peer bench's Q1 (list page), Q2 (deep view) and
Q3 (one payload), and Q2's fields through aliases, fragments and @include, on a private
database per backend, with the planner on and off, in one run.

For each backend (a SQLite file; a PostgreSQL database ``gw_bench_<random>`` when one answers):

1. create and migrate the database, seed N synthetic runs through ``ingestEvents`` (the first
   flow has N / 50 integrations of 50 runs of 5 steps, each with a payload);
2. for GATEWAY_PLANNER=on and =off, start a real server (``gateway serve``: uvicorn, uvloop,
   httptools) in a subprocess; check that both answer each query alike; then per query:
   the median latency and server CPU of sequential requests, and C concurrent clients for D
   seconds: requests/s, p50/p99, and the server process's CPU (utime + stime from /proc) per
   request;
3. print the figures and the on/off ratios, and the memory of one cached plan per query.

The load generator shares the machine with the server and the database: requests/s are for
the whole box; CPU ms per request is the server's own.

    python bench/bench_planner.py                       # both backends, N=2000, 8 s per query
    python bench/bench_planner.py --backend sqlite --duration 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import orjson

# This checkout's gateway (and the shared helpers beside this file), whatever is installed.
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import bench_api  # noqa: E402  (the shared database, seeding and server helpers)

QUERIES = Path(__file__).resolve().parent / "queries"
NAMES = {
    "q1": "Q1 list",
    "q2": "Q2 deep",
    "q2_fragments": "Q2 with fragments",
    "q3": "Q3 payload",
}
FLOW = "syn1-flow-00000"
STEP_QUERY = '{ flow(flowId: "%s") { runs(first: 1) { nodes { steps(first: 1) { nodes { stepId } } } } } }'
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def documents() -> dict[str, str]:
    return {name: (QUERIES / f"{name}.graphql").read_text() for name in NAMES}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS


async def post(client: httpx.AsyncClient, body: bytes) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = await client.post("/graphql", content=body)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or b'"errors"' in response.content[:20]:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    return elapsed, response.content


async def measure(
    base: str, key: str, pid: int, body: bytes, concurrency: int, duration: float
) -> dict[str, float]:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as c:
        cpu_before = cpu_seconds(pid)
        sequential = [(await post(c, body))[0] for _ in range(7)]
        cpu_sequential = (cpu_seconds(pid) - cpu_before) / len(sequential)
        latencies: list[float] = []
        warm_until = time.perf_counter() + 1.0
        stop_at = warm_until + duration
        cpu_at_start: list[float] = []

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                elapsed, _ = await post(c, body)
                if time.perf_counter() - elapsed >= warm_until:
                    latencies.append(elapsed)

        async def mark() -> None:
            await asyncio.sleep(max(0.0, warm_until - time.perf_counter()))
            cpu_at_start.append(cpu_seconds(pid))

        await asyncio.gather(mark(), *(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - warm_until
        cpu = cpu_seconds(pid) - cpu_at_start[0]
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / wall,
        "p50": bench_api.percentile(latencies, 50) * 1000,
        "p99": bench_api.percentile(latencies, 99) * 1000,
        "c1": statistics.median(sequential) * 1000,
        "c1cpu": cpu_sequential * 1000,
        "cpu": cpu / n * 1000 if n else float("nan"),
        "requests": n,
    }


def plan_bytes(query: str) -> int:
    """Memory held by one compiled plan of ``query`` (beyond its parsed document)."""
    from graphql import parse

    from gateway.planner import compile_plan
    from gateway.schema import schema

    document = parse(query)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    plan = compile_plan(schema._schema, document, None)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert plan is not None
    return sum(s.size_diff for s in after.compare_to(before, "filename"))


async def run_backend(backend: str, args: argparse.Namespace) -> dict[tuple[str, bool], Any]:
    from gateway.config import Settings
    from gateway.db.migrate import upgrade
    from gateway.seed.loader import seed_synthetic

    results: dict[tuple[str, bool], Any] = {}
    workdir = tempfile.mkdtemp(prefix="gw_bench_planner_")
    async with bench_api.fresh_database(backend, args.pg_url) as url:
        await asyncio.to_thread(upgrade, url)
        bench_api.log(f"[{backend}] seeding {args.runs:,} runs ...")
        started = time.perf_counter()
        await seed_synthetic(Settings(database_url=url), bench_api.ACCOUNT, args.runs, progress=False)
        bench_api.log(f"[{backend}] seeded in {time.perf_counter() - started:.1f} s")
        if backend == "postgres":
            await bench_api.analyze_pg(url)
        key = await asyncio.to_thread(bench_api.create_viewer_key, url, workdir)
        answers: dict[str, bytes] = {}
        step_id = ""
        for planner in (True, False):
            # The shared server helper reads its environment from bench_api.server_env.
            bench_api.server_env = lambda u, p=planner: server_env(u, p)  # type: ignore[assignment]
            async with bench_api.running_server(url, workdir) as (base, proc):
                headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
                async with httpx.AsyncClient(base_url=base, headers=headers) as c:
                    found = (await c.post("/graphql", json={"query": STEP_QUERY % FLOW})).json()
                    runs = found["data"]["flow"]["runs"]["nodes"]
                    step_id = runs[0]["steps"]["nodes"][0]["stepId"]
                variables = {"flowId": FLOW, "stepId": step_id}
                for name, query in documents().items():
                    body = orjson.dumps({"query": query, "variables": variables})
                    async with httpx.AsyncClient(base_url=base, headers=headers) as c:
                        _, content = await post(c, body)
                    if name in answers and orjson.loads(answers[name]) != orjson.loads(content):
                        raise RuntimeError(f"{name}: the planner's answer differs from strawberry's")
                    answers[name] = content
                    label = f"[{backend}] {NAMES[name]} planner {'on' if planner else 'off'}"
                    bench_api.log(f"{label}: {args.concurrency} clients x {args.duration:g} s")
                    figures = await measure(
                        base, key, proc.pid, body, args.concurrency, args.duration
                    )
                    figures["bytes"] = len(content)
                    results[(name, planner)] = figures
                    bench_api.log(
                        f"    {figures['rps']:.1f} req/s  {figures['cpu']:.2f} CPU ms/req  "
                        f"p50 {figures['p50']:.1f} ms  p99 {figures['p99']:.1f} ms"
                    )
    return results


_plain_env = bench_api.server_env


def server_env(url: str, planner: bool) -> dict[str, str]:
    env = _plain_env(url)
    env["GATEWAY_PLANNER"] = "on" if planner else "off"
    return env


def report(backend: str, results: dict[tuple[str, bool], Any], runs: int) -> None:
    out = bench_api.out
    out(f"\n### {backend}, {runs:,} runs")
    out(
        "| query | planner | req/s | CPU ms/req | p50 ms | p99 ms | c=1 ms | c=1 CPU ms/req |"
        " bytes | req/s on/off | CPU off/on |"
    )
    out("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, label in NAMES.items():
        on, off = results[(name, True)], results[(name, False)]
        for planner, r in (("on", on), ("off", off)):
            ratios = (
                f" {on['rps'] / off['rps']:.1f}x | {off['cpu'] / on['cpu']:.1f}x |"
                if planner == "on"
                else " | |"
            )
            out(
                f"| {label} | {planner} | {r['rps']:.1f} | {r['cpu']:.2f} | {r['p50']:.1f} |"
                f" {r['p99']:.1f} | {r['c1']:.1f} | {r['c1cpu']:.1f} | {r['bytes']:,} |{ratios}"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("GATEWAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an admin URL of the PostgreSQL server (a private database is created on it)",
    )
    return parser.parse_args(argv)


async def pg_reachable(url: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(bench_api.to_plain_pg(url), timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def amain(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and not await pg_reachable(args.pg_url):
        bench_api.log(f"PostgreSQL not reachable at {args.pg_url}: SQLite only")
        backends.remove("postgres")
    all_results = {backend: await run_backend(backend, args) for backend in backends}
    for backend, results in all_results.items():
        report(backend, results, args.runs)
    bench_api.out("\nMemory of one cached plan (tracemalloc, beyond the parsed document):")
    for name, query in documents().items():
        bench_api.out(f"- {NAMES[name]}: {plan_bytes(query):,} bytes")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
