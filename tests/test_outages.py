"""Outages survived: a real ``gateway serve`` process whose PostgreSQL, or Redis, is stopped
and started again. The services are the test's own (a private PostgreSQL cluster made with
``initdb``, a private ``redis-server``), never the shared ones."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asyncpg.exceptions import CannotConnectNowError, ConnectionDoesNotExistError
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from websockets.sync.client import connect

from gateway.http.errors import coded, is_database_down
from tests import events as e
from tests.notify_support import SET, failing_run, ok_run, receiver
from tests.test_cli import GATEWAY, _env, _free_port, _run
from tests.test_redis_broker import IN_CI, PrivateRedis
from tests.test_subscriptions import RUNS, LiveServer, Socket, Tenant, run_of, server_settings

RUN_COUNT = "query Runs { runs(first: 1) { totalCount } }"
DELIVERY = """query Deliveries { notificationDeliveries(first: 5) {
  nodes { type status attempts { responseCode } } } }"""
# How long a recovery may take before the test gives up (it counts attempts, not seconds).
RECOVERY_SECONDS = 15.0
BATCH_RUNS = 330  # 990 events: a batch holds at most 1000


def _need(program: str) -> str:
    found = shutil.which(program) or shutil.which(program, path="/usr/local/bin")
    if found is None:
        if IN_CI:
            pytest.fail(f"{program} is required in CI (the outage tests start their own)")
        pytest.skip(f"{program} is not installed; set CI=true to require it")
    return found


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port, its files in a temporary folder. As
    root, the server runs as ``nobody`` (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl, self.psql = _need("initdb"), _need("pg_ctl"), _need("psql")
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        # Not under pytest's tmp_path: its folders are private to the user running the tests.
        self.folder = Path(tempfile.mkdtemp(prefix="gateway-outage-pg-"))
        self.folder.chmod(0o777)
        self.data = self.folder / "data"
        self._as = []
        if os.geteuid() == 0:
            _need("setpriv")
            self._as = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr or done.stdout

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run(self.pg_ctl, "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """``-m fast``: open sessions are ended, transactions under way rolled back."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _psql(self) -> list[str]:
        return [self.psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qAt"]

    def sql(self, statement: str) -> str:
        done = subprocess.run(
            [*self._psql(), "-c", statement], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def lock(self, table: str) -> subprocess.Popen[str]:
        """A session holding ``table`` in EXCLUSIVE mode (reads go on, writes wait) until the
        server stops."""
        holder = subprocess.Popen(
            self._psql(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert holder.stdin is not None
        holder.stdin.write(f"BEGIN; LOCK TABLE {table} IN EXCLUSIVE MODE; SELECT pg_sleep(600);\n")
        holder.stdin.flush()
        granted = (
            f"SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass"
            " AND mode = 'ExclusiveLock' AND granted"
        )
        _until(lambda: self.sql(granted) == "1", f"the lock on {table}")
        return holder

    def remove(self) -> None:
        subprocess.run(
            [*self._as, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    _need("redis-server")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class Server:
    """``gateway serve`` in a subprocess, its log in a file."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = {**_env(tmp_path), "GATEWAY_KEY_CACHE_SECONDS": "600", **env}
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        self.proc: subprocess.Popen[str] | None = None

    def key(self, role: str, account: str = "acme") -> str:
        created = _run(
            self.tmp_path, "keys", "create", "--account", account, "--role", role, env=self.env
        )
        assert created.returncode == 0, created.stderr
        return created.stdout.strip()

    def __enter__(self) -> Server:
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [*GATEWAY, "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not become ready")

    def __exit__(self, *_: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def post(self, key: str, query: str, **variables: Any) -> httpx.Response:
        return httpx.post(
            f"{self.base}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )

    def data(self, key: str, query: str, **variables: Any) -> dict[str, Any]:
        response = self.post(key, query, **variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def ingest(self, key: str, events: list[dict[str, Any]]) -> httpx.Response:
        return self.post(key, e.INGEST, events=events)

    def runs(self, key: str) -> int:
        return int(self.data(key, RUN_COUNT)["runs"]["totalCount"])

    def readyz(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(f"{self.base}/readyz", timeout=10)
        return response.status_code, response.json()

    def tracebacks(self) -> int:
        return self.log.read_text().count("Traceback")


def _until(check: Callable[[], bool], what: str, within: float = RECOVERY_SECONDS) -> int:
    """Polls ``check`` until it holds; how many polls it took."""
    polls = 0
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        polls += 1
        if check():
            return polls
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {within:g} s")


def _unavailable(response: httpx.Response) -> None:
    """The answer of a request that met the database down: 503, one coded error, a hint."""
    assert response.status_code == 503, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 5
    codes = {error["extensions"]["code"] for error in response.json()["errors"]}
    assert codes == {"SERVICE_UNAVAILABLE"}, response.text


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        OperationalError("SELECT 1", None, CannotConnectNowError("shutting down")),
        DBAPIError("SELECT 1", None, ConnectionDoesNotExistError("closed")),
        InterfaceError("SELECT 1", None, Exception("closed"), connection_invalidated=True),
    ],
    ids=["refused", "starting-or-stopping", "lost", "closed"],
)
def test_an_unreachable_database_is_service_unavailable(error: Exception) -> None:
    wrapped = GraphQLError("boom", path=["runs"], original_error=error)
    assert coded(wrapped, "r1").extensions == {"code": "SERVICE_UNAVAILABLE"}
    assert is_database_down(coded(wrapped, "r1"))


def test_a_faulty_statement_is_not_mistaken_for_an_outage() -> None:
    fault = OperationalError("SELECT x", None, sqlite3.OperationalError("no such column: x"))
    wrapped = GraphQLError("boom", path=["runs"], original_error=fault)
    assert (coded(wrapped, "r1").extensions or {})["code"] == "INTERNAL"


@pytest.fixture(scope="module")
def live(database_url: str) -> Iterator[LiveServer]:
    server = LiveServer(server_settings(database_url)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tenant(live: LiveServer) -> Tenant:
    return Tenant(live)


def test_a_stream_whose_reads_meet_the_database_down_ends_service_unavailable(
    tenant: Tenant, live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant.ingest(e.flow(), e.integration("int-1"))
    sock = tenant.socket()
    sock.subscribe("runs", RUNS)
    tenant.following()

    async def database_down(_ctx: Any) -> None:
        raise OperationalError("SELECT", None, ConnectionRefusedError(111, "refused"))

    monkeypatch.setattr("gateway.live.streams.check_key", database_down)
    tenant.ingest(e.run_started("run-1", "int-1", 10))
    message = sock.recv()
    [error] = message["payload"]["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
    assert sock.recv() == {"id": "runs", "type": "complete"}
    sock.ws.close()


def test_postgres_stopped_and_started_again(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    env = {
        "GATEWAY_DATABASE_URL": private_postgres.url,
        "GATEWAY_NOTIFICATIONS_ALLOW_HTTP": "true",
        "GATEWAY_NOTIFICATIONS_ALLOW_PRIVATE_URLS": "true",
    }
    server = Server(tmp_path, env)
    admin, ingester, unused = server.key("admin"), server.key("ingest"), server.key("viewer")
    with receiver() as hook, server:
        # given a server that serves, ingests, and has a notification to retry
        hook.answer(500)  # the first attempt fails: retried some seconds later
        server.data(admin, SET, input={"webhookUrl": hook.url})
        # int-1's runs fail (a notification); int-2's succeed (none)
        setup = [e.flow(), e.integration("int-1"), e.integration("int-2")]
        accepted = server.ingest(ingester, setup)
        assert accepted.status_code == 200, accepted.text
        assert server.ingest(ingester, failing_run("run-failed", "int-1")).status_code == 200

        def attempted_once() -> bool:
            [delivery] = server.data(admin, DELIVERY)["notificationDeliveries"]["nodes"]
            return delivery["status"] == "PENDING" and len(delivery["attempts"]) == 1

        _until(attempted_once, "the first delivery attempt")
        assert server.runs(admin) == 1

        # when the database stops while a batch of 330 runs is being written: its runs are
        # inserted, and it waits for the change log (held by another session)
        holder = private_postgres.lock("change_log")
        in_flight = [event for n in range(BATCH_RUNS) for event in ok_run(f"b-{n}", "int-2")]
        answers: list[httpx.Response] = []
        sending = threading.Thread(
            target=lambda: answers.append(server.ingest(ingester, in_flight))
        )
        sending.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%change_log%'"
        )
        _until(lambda: private_postgres.sql(waiting) == "1", "the batch waiting mid-way")
        private_postgres.stop()
        sending.join()
        holder.communicate(timeout=30)  # ended by the stop
        [batch_answer] = answers
        _unavailable(batch_answer)

        # then clients get 503 SERVICE_UNAVAILABLE with retry-after, never a 500
        _unavailable(server.post(admin, RUN_COUNT))
        _unavailable(server.ingest(ingester, ok_run("during", "int-2")))
        _unavailable(server.post(unused, RUN_COUNT))  # the key's lookup meets the outage
        assert server.readyz()[0] == 503
        status, ready = server.readyz()
        assert status == 503
        assert (ready["database"], ready["broker"]) == ("unreachable", "ok")
        assert len(hook.received) == 1

        # when the database is back: the same process serves again, within seconds
        private_postgres.start()
        started = time.monotonic()
        polls = _until(lambda: server.post(admin, RUN_COUNT).status_code == 200, "recovery")
        print(f"served again {time.monotonic() - started:.2f} s after the start ({polls} poll(s))")
        assert server.readyz()[0] == 200
        assert server.ingest(ingester, ok_run("after", "int-2")).status_code == 200
        # the batch cut off was not applied at all; sent again, it is applied whole
        assert server.runs(admin) == 2
        again = server.data(ingester, e.INGEST, events=in_flight)["ingestEvents"]
        assert again["accepted"] == len(in_flight)
        assert not again["rejected"]
        assert server.runs(admin) == 2 + BATCH_RUNS
        # the notification queued before the outage is delivered after it, once
        _until(lambda: len(hook.received) == 2, "the retried notification")
        [delivery] = server.data(admin, DELIVERY)["notificationDeliveries"]["nodes"]
        assert delivery["type"] == "RUN_FAILED"
        assert delivery["status"] == "DELIVERED"
        assert json.loads(hook.received[0].body) == json.loads(hook.received[1].body)
        assert server.tracebacks() == 0, server.log.read_text()
        # one line when readiness found the database down, however often it was asked
        assert server.log.read_text().count("readiness check failed: database") == 1


def test_redis_stopped_and_started_again(tmp_path: Path, private_redis: PrivateRedis) -> None:
    server = Server(tmp_path, {"GATEWAY_REDIS_URL": private_redis.url})
    viewer, ingester = server.key("viewer"), server.key("ingest")
    with server:
        assert server.ingest(ingester, [e.flow(), e.integration("int-1")]).status_code == 200
        url = f"ws://127.0.0.1:{server.port}/graphql"
        protocols: Any = ["graphql-transport-ws"]
        with connect(url, subprotocols=protocols, proxy=None, max_queue=None) as ws:
            _subscriber_outlives_redis(server, private_redis, Socket(ws), viewer, ingester)
        assert server.tracebacks() == 0, server.log.read_text()


def _subscriber_outlives_redis(
    server: Server, private_redis: PrivateRedis, sock: Socket, viewer: str, ingester: str
) -> None:
    assert sock.init(viewer) == {"type": "connection_ack"}
    sock.subscribe("runs", RUNS)
    time.sleep(0.3)  # set up: a change now is delivered live (either way it comes once)
    assert server.ingest(ingester, [e.run_started("run-1", "int-1", 10)]).status_code == 200
    [first] = sock.events("runs", 1)
    before_outage = first["cursor"]

    # when Redis stops, and changes are made while it is away
    private_redis.kill()
    _until(lambda: server.readyz()[0] == 503, "readiness reporting the broker")
    ready = server.readyz()[1]
    assert (ready["database"], ready["broker"]) == ("ok", "unreachable")
    during = [
        [e.run_finished("run-1", "OK", 11)],
        [e.run_started("run-2", "int-1", 12)],
        [e.run_finished("run-2", "FAILED", 13)],
    ]
    for events in during:
        assert server.ingest(ingester, events).status_code == 200
    assert server.post(viewer, RUN_COUNT).status_code == 200  # queries go on
    expected = [
        ("run-1", "RUNNING", "OK"),
        ("run-2", None, "RUNNING"),
        ("run-2", "RUNNING", "FAILED"),
    ]

    # then the subscriber keeps receiving this process's changes, until it is told to
    # resume (it may have missed other processes' changes)
    delivered: list[tuple[Any, ...]] = []
    cursor = before_outage
    private_redis.start()
    while True:
        message = sock.recv()
        assert message["type"] == "next", message
        if "errors" in message["payload"]:
            [error] = message["payload"]["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
            assert "after:" in error["message"]
            assert error["extensions"]["lastCursor"] == cursor
            assert sock.recv() == {"id": "runs", "type": "complete"}
            break
        [event] = message["payload"]["data"].values()
        delivered.append(run_of(event)[:3])
        cursor = event["cursor"]
    assert delivered == expected[: len(delivered)]
    _until(lambda: server.readyz()[0] == 200, "readiness once Redis is back")

    # when it resumes with after: the cursor it had before the outage, it gets every
    # change since, exactly once
    sock.subscribe("resumed", RUNS, after=before_outage)
    assert [run_of(event)[:3] for event in sock.events("resumed", 3)] == expected
    # and live changes flow again
    assert server.ingest(ingester, [e.run_started("run-3", "int-1", 14)]).status_code == 200
    [live] = sock.events("resumed", 1)
    assert run_of(live)[0] == "run-3"
    sock.quiet()
