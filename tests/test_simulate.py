"""Live demo runs: the pure run generator, the driver, ``gateway simulate`` and the background
of ``gateway serve --demo``."""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from gateway.auth.keys import create_key
from gateway.cli import build_parser, main
from gateway.config import Settings, get_settings
from gateway.db import accounts
from gateway.db.migrate import upgrade
from gateway.seed.demo import demo_events
from gateway.seed.events import CLIENT_ERROR_CODES, SERVER_ERROR_CODES, Event, member_of
from gateway.seed.loader import MUTATION, Progress, ingest_all
from gateway.seed.simulate import (
    DEMO_SHAPES,
    RunMaker,
    RunScript,
    Simulation,
    Target,
    load_targets,
    target,
)
from gateway.services import Services
from tests.conftest import Api
from tests.test_cli import GATEWAY, _env, _free_port, _run
from tests.test_redis_broker import PrivateRedis

RUN_MEMBERS = {"runStarted", "stepStarted", "stepFinished", "runFinished"}

RUNS = """query Runs($first: Int!) { runs(first: $first) { totalCount nodes {
  runId status networkCode endTime integration { integrationId }
  steps(first: 10) { nodes { position status networkCode } } } } }"""


@cache
def _structure() -> list[Event]:
    """The demo account without its runs: apps, flows, integrations and their statuses."""
    return [e for e in demo_events(datetime.now(UTC)) if member_of(e) not in RUN_MEMBERS]


async def _ingest(ingester: Api, events: list[Event]) -> None:
    for i in range(0, len(events), 1000):
        answer = (await ingester.data(MUTATION, {"events": events[i : i + 1000]}))["ingestEvents"]
        assert answer["rejected"] == [], answer["rejected"]
        assert answer["accepted"] == len(events[i : i + 1000])


async def _runs(viewer: Api) -> dict[str, dict[str, Any]]:
    runs = (await viewer.data(RUNS, {"first": 100}))["runs"]
    assert runs["totalCount"] <= 100
    return {r["runId"]: r for r in runs["nodes"]}


# --------------------------------------------------------------------------- the generator


def _play(script: RunScript, start: datetime) -> list[tuple[float, list[Event]]]:
    """Every (time after start, events) of a run, on a clock that follows its waits."""
    played, at = [], 0.0
    while not script.done:
        played.append((at, script.advance(start + timedelta(seconds=at))))
        wait = script.wait
        at += wait or 0.0
    return played


def test_runs_last_a_few_seconds_and_steps_finish_one_by_one() -> None:
    maker = RunMaker(random.Random(5), "sim-test")
    targets = [target(f"int-{i}", shape) for i, shape in enumerate(DEMO_SHAPES.values())]
    lengths, failed, codes = [], 0, set()
    for n in range(400):
        script = maker.run(targets[n % len(targets)])
        played = _play(script, datetime(2026, 1, 1, tzinfo=UTC))
        members = [(member_of(e), e[member_of(e)].get("position")) for _, es in played for e in es]
        steps = len(script.target.flow.steps)
        ran = script.fail_pos or steps
        expected = [("runStarted", None)]
        for pos in range(1, ran + 1):
            expected += [("stepStarted", pos), ("stepFinished", pos)]
        expected += [("stepFinished", pos) for pos in range(ran + 1, steps + 1)]  # SKIPPED
        assert members == [*expected, ("runFinished", None)]
        assert all(t > 0 for t, _ in played[1:]), "every step takes time"
        lengths.append(played[-1][0])
        failed += script.status == "FAILED"
        codes.add(script.fail_code)
    assert min(lengths) >= 1.0
    assert max(lengths) <= 22.0
    assert 0.05 < failed / 400 < 0.3
    assert codes & set(CLIENT_ERROR_CODES)
    assert codes & set(SERVER_ERROR_CODES)


async def test_generated_runs_are_accepted_and_go_running_to_ok_or_failed(
    services: Services, ingester: Api, viewer: Api, account_id: str
) -> None:
    # given the demo's flows and integrations, without runs
    await _ingest(ingester, _structure())
    targets = await load_targets(services, account_id)
    assert targets
    assert len(targets) == len({t.integration_id for t in targets})
    rng = random.Random(11)
    maker = RunMaker(rng, "sim-t")
    two_steps = next(t for t in targets if len(t.flow.steps) >= 2)
    scripts = [maker.run(t) for t in targets[:12]]
    for code, pos in ((404, len(two_steps.flow.steps)), (503, 1), (None, 2)):
        scripts.append(
            RunScript(rng, two_steps, f"sim-t-f{pos}", maker.event_id, fail_code=code, fail_pos=pos)
        )
    start = datetime.now(UTC) - timedelta(hours=1)

    # when each run has only started, then they are RUNNING
    first = [s.advance(start + timedelta(seconds=i)) for i, s in enumerate(scripts)]
    await _ingest(ingester, [e for events in first for e in events])
    runs = await _runs(viewer)
    assert {r["status"] for r in runs.values()} == {"RUNNING"}
    assert set(runs) == {s.run_id for s in scripts}

    # when the rest of each run arrives, then it finished as planned
    rest: list[Event] = []
    for i, script in enumerate(scripts):
        at = start + timedelta(seconds=i + (script.wait or 0))
        rest += [e for _, events in _play(script, at) for e in events]
    await _ingest(ingester, rest)
    runs = await _runs(viewer)
    for script in scripts:
        run = runs[script.run_id]
        assert run["status"] == script.status
        assert run["endTime"] is not None
        assert run["integration"]["integrationId"] == script.target.integration_id
        steps = run["steps"]["nodes"]
        assert len(steps) == len(script.target.flow.steps)
        if script.status == "OK":
            assert {s["status"] for s in steps} == {"OK"}
            assert 200 <= run["networkCode"] < 300
            continue
        assert run["networkCode"] == script.fail_code
        failing = steps[script.fail_pos - 1]
        assert (failing["status"], failing["networkCode"]) == ("FAILED", script.fail_code)
        assert {s["status"] for s in steps[script.fail_pos :]} <= {"SKIPPED"}
    codes = {r["networkCode"] for r in runs.values() if r["status"] == "FAILED"}
    assert {404, 503, None} <= codes


# --------------------------------------------------------------------------- the driver


async def test_the_driver_plays_runs_live_and_moves_off_a_paused_integration(
    services: Services, ingester: Api, viewer: Api, account_id: str
) -> None:
    # given one ENABLED target, and one whose integration was paused since it was read
    await _ingest(ingester, _structure())
    enabled = (await load_targets(services, account_id))[0]
    final = {
        e["integrationStatusChanged"]["integrationId"]: e["integrationStatusChanged"]["status"]
        for e in _structure()
        if member_of(e) == "integrationStatusChanged"
    }
    paused_id = next(i for i, status in final.items() if status == "PAUSED")
    paused = Target(paused_id, enabled.flow, enabled.creds, 0.5)
    simulation = Simulation(services, account_id, [paused, enabled], rate=10, rng=random.Random(2))

    # when it runs for a second and a half
    totals = await simulation.run(duration=1.5)

    # then runs started and all finished, on the enabled integration only, and nothing
    # was refused: the paused integration was dropped
    assert paused_id not in simulation.targets
    assert totals.rejected == 0
    assert 8 <= totals.started == totals.finished
    runs = await _runs(viewer)
    assert len(runs) == totals.started
    assert {r["integration"]["integrationId"] for r in runs.values()} == {enabled.integration_id}
    assert {r["status"] for r in runs.values()} <= {"OK", "FAILED"}
    assert sum(r["status"] == "FAILED" for r in runs.values()) == totals.failed
    assert totals.events > 2 * totals.started


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the demo account's flows and integrations (no runs)."""
    path = tmp_path_factory.mktemp("seeded") / "cli.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}")
    upgrade(settings.database_url)

    async def seed() -> None:
        services = Services.from_settings(settings)
        try:
            async with services.db.transaction() as conn:
                await accounts.ensure_account(conn, "demo", "Demo Software Inc.")
            await ingest_all(services, "demo", _structure(), Progress(0, False, ""))
        finally:
            await services.close()

    asyncio.run(seed())
    return path


def _copy(seeded_db: Path, folder: Path) -> Path:
    shutil.copy(seeded_db, folder / "cli.db")
    return folder


def _count_runs(folder: Path, statuses: tuple[str, ...] = ()) -> int:
    from gateway.app import create_app

    async def count() -> int:
        app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{folder / 'cli.db'}"))
        try:
            key = await create_key(app.state.services.db, "demo", "viewer")
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://t",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                return await _total(client, statuses)
        finally:
            await app.state.services.close()

    return asyncio.run(count())


async def _total(client: httpx.AsyncClient, statuses: tuple[str, ...] = ()) -> int:
    query = "query($s: [RunStatus!]) { runs(filter: {status: $s}) { totalCount } }"
    variables = {"s": list(statuses) or None}
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return int(body["data"]["runs"]["totalCount"])


def test_simulate_for_a_few_seconds(seeded_db: Path, tmp_path: Path) -> None:
    folder = _copy(seeded_db, tmp_path)
    result = _run(folder, "simulate", "--duration", "3", "--rate", "5")
    assert result.returncode == 0, result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    found = re.fullmatch(
        r"simulated (\d+) runs started, (\d+) finished \((\d+) failed\), (\d+) events sent "
        r"in [\d.]+ s",
        summary,
    )
    assert found, result.stderr
    started, finished, failed, events = map(int, found.groups())
    assert 10 <= started <= 17
    assert finished == started
    assert failed <= finished
    assert events > 3 * started
    assert _count_runs(folder) == started
    assert _count_runs(folder, ("RUNNING",)) == 0, "a stop finishes the runs under way"


def test_simulate_without_integrations_is_one_line(
    seeded_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(
        "GATEWAY_DATABASE_URL", _env(_copy(seeded_db, tmp_path))["GATEWAY_DATABASE_URL"]
    )
    get_settings.cache_clear()
    try:
        code = main(["simulate", "--account", "nobody"])
    finally:
        get_settings.cache_clear()
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "gateway: error: account nobody has no ENABLED integration to run (seed it first: "
        "gateway seed --account nobody)"
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rate", "0"], "argument --rate: must be a number above 0, at most 100 (got 0)"),
        (["--rate", "-1"], "argument --rate: must be a number above 0, at most 100 (got -1)"),
        (["--rate", "1e9"], "at most 100"),
        (["--rate", "nan"], "--rate: must be a number above 0"),
        (["--rate", "fast"], "argument --rate: 'fast' is not a number"),
        (["--duration", "0"], "argument --duration: must be a number above 0 (got 0)"),
        (["--account", "no spaces"], "--account"),
    ],
)
def test_bad_options_are_one_line(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["simulate", *args])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gateway simulate: error: "), lines
    assert says in lines[0]


# --------------------------------------------------------------------------- serve --demo


@contextmanager
def _serving(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """``serve --demo ARGS`` until the body is done: yields its base URL and demo key."""
    port = _free_port()
    log_path = folder / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*GATEWAY, "serve", "--demo", "--port", str(port), *args],
            env={**_env(folder), **(env or {})},
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                found = re.search(r"gw_[0-9a-f]{16}_\S+", log_path.read_text())
                try:
                    if found and httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            assert "live demo runs: 0.5 runs/s in the background" in log_path.read_text()
            yield base, found.group(0)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()


def _run_ids(base: str, key: str) -> set[str]:
    query = "{ runs(first: 100) { nodes { runId } } }"
    headers = {"Authorization": f"Bearer {key}"}
    body = httpx.post(f"{base}/graphql", json={"query": query}, headers=headers).json()
    return {n["runId"] for n in body["data"]["runs"]["nodes"]}


def _sessions(run_ids: set[str]) -> set[str]:
    return {run_id.rsplit("-r", 1)[0] for run_id in run_ids}


def test_serve_demo_runs_the_simulation(seeded_db: Path, tmp_path: Path) -> None:
    # given a demo server, when a client subscribes to runs
    with _serving(_copy(seeded_db, tmp_path)) as (base, key):
        url = base.replace("http://", "ws://") + "/graphql"
        with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
                )
            )
            assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
            query = "subscription { runStatusChanged { status run { runId } } }"
            ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            # then a run starts within seconds
            event = json.loads(ws.recv(timeout=5))
        assert event["type"] == "next", event
        assert event["payload"]["data"]["runStatusChanged"]["status"] == "RUNNING"
        runs = _run_ids(base, key)
    assert len(_sessions(runs)) == 1, runs
    # and stopping the server finished the runs under way
    assert _count_runs(tmp_path) >= len(runs)
    assert _count_runs(tmp_path, ("RUNNING",)) == 0


def test_serve_demo_with_workers_simulates_once(seeded_db: Path, tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (several workers need Redis)")
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        env = {"GATEWAY_REDIS_URL": redis.url}
        with _serving(_copy(seeded_db, tmp_path), "--workers", "2", env=env) as (base, key):
            deadline = time.monotonic() + 5
            while not (runs := _run_ids(base, key)) and time.monotonic() < deadline:
                time.sleep(0.3)
            assert runs, "runs start within seconds of the server answering"
            time.sleep(1.5)  # each worker has started by now: a second simulation would show
            runs = _run_ids(base, key)
    finally:
        redis.kill()
    assert len(_sessions(runs)) == 1, runs
