"""OpenTelemetry traces: the spans of requests, SQL statements, the broker and deliveries
(through the real app, spans kept in memory), a real ``gateway serve`` sending them over
OTLP/HTTP, and nothing of OpenTelemetry loaded while traces are off."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import tracing
from gateway.services import Services
from tests import events as e
from tests.conftest import api_client
from tests.notify_support import (
    Clock,
    Receiver,
    configure,
    failing_run,
    notify_app,
    notify_settings,
    receiver,
)
from tests.test_cli import GATEWAY, _env, _free_port
from tests.test_redis_broker import change, process_broker, redis_url  # noqa: F401

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
SECRET = "s3cr3t-value-7d1f"  # a variable's value: never part of a span
LOOKUP = "query Lookup($id: String!) { flow(flowId: $id) { name } viewer { accountId } }"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    tracing.install(spans, batch=False)
    try:
        yield spans
    finally:
        tracing.shutdown()


@pytest.fixture(scope="module")
async def app_services(
    exporter: InMemorySpanExporter, database_url: str
) -> AsyncIterator[tuple[Any, Services]]:
    async with notify_app(notify_settings(database_url)) as pair:
        yield pair


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    exporter.clear()
    return exporter


def _named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


def _children(spans: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s
        for s in spans.get_finished_spans()
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


async def test_a_query_is_one_request_span_with_its_sql_under_it(
    app_services: tuple[Any, Services], account_id: str, spans: InMemorySpanExporter
) -> None:
    async with api_client(app_services, account_id, "viewer") as viewer:
        response = await viewer.post(LOOKUP, {"id": SECRET}, traceparent=TRACEPARENT)
        assert response.status_code == 200
        assert not response.json().get("errors")
    [request] = _named(spans, "graphql Lookup")
    assert request.context is not None
    assert request.parent is not None
    # The caller's trace goes on.
    assert f"{request.context.trace_id:032x}" == TRACE_ID
    assert f"{request.parent.span_id:016x}" == PARENT_ID
    key_id = viewer.http.headers["authorization"].split("_")[1]
    attributes = dict(request.attributes or {})
    assert attributes == {
        "http.request.method": "POST",
        "url.path": "/graphql",
        "http.response.status_code": 200,
        "gateway.request_id": response.headers["x-request-id"],
        "gateway.sql_statements": attributes["gateway.sql_statements"],
        "gateway.account": account_id,
        "gateway.key_id": key_id,
        "graphql.operation.name": "Lookup",
        "graphql.operation.type": "query",
        "gateway.cost": 1,
    }
    sql = _children(spans, request)
    assert sql, "no SQL spans under the request"
    assert len(sql) == attributes["gateway.sql_statements"]
    for statement in sql:
        assert statement.name == "SELECT"
        assert statement.attributes is not None
        assert statement.attributes["db.system"] in ("sqlite", "postgresql")
        text = str(statement.attributes["db.statement"])
        assert text.lstrip().upper().startswith("SELECT")
        assert SECRET not in text
        assert account_id not in text
    assert any("flows" in str(s.attributes and s.attributes["db.statement"]) for s in sql)
    # Nothing else in the trace holds the variable's value either.
    dumped = [s.to_json() for s in spans.get_finished_spans()]
    assert not [d for d in dumped if SECRET in d]


async def test_a_request_without_traceparent_starts_a_trace_and_names_its_errors(
    app_services: tuple[Any, Services], account_id: str, spans: InMemorySpanExporter
) -> None:
    async with api_client(app_services, account_id, "viewer") as viewer:
        codes = await viewer.error_codes("query Broken { nope }")
        health = await viewer.http.get("/healthz")
        assert health.status_code == 200
    [request] = _named(spans, "graphql Broken")
    assert request.parent is None
    assert request.attributes is not None
    assert list(request.attributes["gateway.error_codes"]) == codes  # type: ignore[arg-type]
    [plain] = _named(spans, "GET /healthz")
    assert plain.attributes is not None
    assert plain.attributes["http.response.status_code"] == 200
    assert "graphql.operation.name" not in plain.attributes


async def test_an_ingest_traces_its_writes_and_the_broker_publish(
    app_services: tuple[Any, Services], account_id: str, spans: InMemorySpanExporter
) -> None:
    run_id = f"run-{SECRET}"
    async with api_client(app_services, account_id, "ingest") as ingester:
        batch = [e.flow(), e.integration("int-1"), *failing_run(run_id, "int-1")]
        data = await ingester.data(e.INGEST, {"events": batch})
    assert data["ingestEvents"]["accepted"] == len(batch)
    [request] = _named(spans, "graphql Ingest")
    assert request.attributes is not None
    assert request.attributes["graphql.operation.type"] == "mutation"
    children = _children(spans, request)
    sql = [s for s in children if s.attributes and "db.statement" in s.attributes]
    assert {s.name for s in sql} >= {"SELECT", "INSERT"}
    assert len(sql) == request.attributes["gateway.sql_statements"]
    for statement in sql:
        assert statement.attributes is not None
        assert run_id not in str(statement.attributes["db.statement"])
    [publish] = [s for s in children if s.name == "broker publish"]
    assert publish.attributes is not None
    assert publish.attributes["messaging.batch.message_count"] >= 1  # type: ignore[operator]


async def test_each_delivery_attempt_is_a_span(
    app_services: tuple[Any, Services], account_id: str, spans: InMemorySpanExporter
) -> None:
    services = app_services[1]
    with receiver() as hook:
        async with (
            api_client(app_services, account_id, "admin") as admin,
            api_client(app_services, account_id, "ingest") as ingester,
        ):
            await configure(admin, webhookUrl=hook.url)
            batch = [e.flow(), e.integration("int-1"), *failing_run("run-1", "int-1")]
            await ingester.data(e.INGEST, {"events": batch})
        hook.answer(503)
        worker = _worker(services, hook)
        try:
            spans.clear()
            assert await worker.run_once() == 1
        finally:
            await worker.close()
    assert len(hook.received) == 1
    [round_] = _named(spans, "notifications deliver")
    [attempt] = _named(spans, "notification delivery")
    assert attempt.parent is not None
    assert round_.context is not None
    assert attempt.parent.span_id == round_.context.span_id
    assert dict(attempt.attributes or {}) | {"gateway.webhook_id": "-"} == {
        "gateway.account": account_id,
        "gateway.webhook_id": "-",
        "gateway.attempt": 1,
        "server.address": "127.0.0.1",
        "http.response.status_code": 503,
        "gateway.outcome": "failed",
    }
    assert not attempt.status.is_ok
    # The claim is read before the round starts; the outcome is written inside it.
    assert [s for s in _children(spans, round_) if s.name == "UPDATE"]


def _worker(services: Services, hook: Receiver) -> Any:
    from gateway.notifications.worker import Deliverer

    return Deliverer(
        services.db,
        services.links,
        allow_http=True,
        allow_private=True,
        clock=Clock(),
        jitter=lambda: 1.0,
    )


async def test_a_change_received_from_another_process_continues_the_publishers_trace(
    exporter: InMemorySpanExporter,
    redis_url: str,  # noqa: F811
) -> None:
    exporter.clear()
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    first, second = process_broker(redis_url, prefix), process_broker(redis_url, prefix)
    await first.start()
    await second.start()
    try:
        async with second.subscribe("acct-trace") as subscription:
            assert tracing.tracer is not None
            with tracing.tracer.start_as_current_span("a write"):
                await first.publish([change("acct-trace", "run-1")])
            received = await anext(subscription)
            assert received.object_id == "run-1"
    finally:
        await first.close()
        await second.close()
    [write] = _named(exporter, "a write")
    [publish] = _named(exporter, "broker publish")
    # Each process hears its own messages too; only the other one's make a span.
    [receive] = _named(exporter, "broker receive")
    assert write.context is not None
    assert publish.context is not None
    assert receive.context is not None
    assert receive.parent is not None
    assert publish.parent is not None
    assert publish.parent.span_id == write.context.span_id
    assert receive.context.trace_id == write.context.trace_id
    assert receive.parent.span_id == publish.context.span_id


# --- off: nothing loaded --------------------------------------------------------------------

# redis-py (8) loads OpenTelemetry's API for its own metrics whenever it is installed: what
# it loads is the baseline, and the gateway must add nothing to it, the SDK least of all.
OFF = textwrap.dedent(
    """
    import asyncio, sys
    if sys.argv[3] == "missing":  # installed without the otel extra
        sys.modules["opentelemetry"] = None
    import redis.asyncio
    baseline = {m for m in sys.modules if m.startswith("opentelemetry")}
    import httpx
    from gateway import tracing
    from gateway.app import create_app
    from gateway.auth.keys import create_key
    from gateway.config import Settings

    async def main():
        app = create_app(Settings(database_url=sys.argv[1], key_cache_seconds=0.0))
        services = app.state.services
        key = await create_key(services.db, "acct-off", "viewer")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {key}", "traceparent": sys.argv[2]},
        ) as http:
            response = await http.post("/graphql", json={"query": "{ viewer { accountId } }"})
            assert response.json() == {"data": {"viewer": {"accountId": "acct-off"}}}, response.text
            listeners = services.db.engine.sync_engine.dispatch.after_cursor_execute
        await services.close()
        loaded = {m for m in sys.modules if m.startswith("opentelemetry")}
        sdk = [m for m in loaded if m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exp"))]
        print(len(list(listeners)), sorted(loaded - baseline), sdk, tracing.tracer)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("packages", ["installed", "missing"])
def test_off_loads_no_opentelemetry_and_registers_no_listener(
    tmp_path: Path, database_url: str, packages: str
) -> None:
    env = {**_env(tmp_path)}
    env.pop("GATEWAY_DATABASE_URL")
    done = subprocess.run(
        [sys.executable, "-c", OFF, database_url, TRACEPARENT, packages],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 [] [] None"


def test_serve_refuses_an_endpoint_without_the_packages(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from gateway.cli import main; sys.exit(main(['serve', '--port', sys.argv[1]]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(_free_port())],
        env={**_env(tmp_path), "GATEWAY_OTEL_ENDPOINT": "http://127.0.0.1:4318"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("gateway: error: GATEWAY_OTEL_ENDPOINT is set but OpenTelemetry is not")
    assert not (tmp_path / "cli.db").exists()  # stopped before it migrated anything


# --- a real server, a real OTLP/HTTP receiver -----------------------------------------------


class _Collector(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _CollectorHandler)


class _CollectorHandler(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.paths.append(self.path)
        if self.path == "/v1/traces":
            self.server.bodies.append(body)
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_serve_sends_spans_to_an_otlp_http_endpoint(tmp_path: Path) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    collector = _Collector()
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    port = _free_port()
    env = {
        **_env(tmp_path),
        "GATEWAY_OTEL_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
        "GATEWAY_OTEL_SERVICE_NAME": "gateway-under-test",
    }
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen(
            [*GATEWAY, "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "serve did not come up"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            for _ in range(3):
                assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).is_success
            proc.send_signal(signal.SIGTERM)  # the batch still buffered goes out on the way
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            collector.shutdown()
            collector.server_close()
    assert collector.paths
    assert set(collector.paths) == {"/v1/traces"}
    names: list[str] = []
    services: set[str] = set()
    for body in collector.bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                names += [s.name for s in scope_spans.spans]
    assert services == {"gateway-under-test"}
    assert names.count("GET /readyz") == 3, json.dumps(names)
