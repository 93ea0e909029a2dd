"""Optional OpenTelemetry traces, sent over OTLP/HTTP to ``GATEWAY_OTEL_ENDPOINT``.

Off (the setting unset), nothing of OpenTelemetry is imported: ``tracer`` stays None, every
traced place asks that one question and goes on, and no SQLAlchemy listener is registered.
On, each server process has a ``TracerProvider`` whose ``BatchSpanProcessor`` sends spans in
the background, and these spans:

- one per HTTP request (``graphql <operation>``, or method and path), continuing an incoming
  W3C ``traceparent``; its attributes come from the request's ``RequestRecord``, the one its
  log line is made of;
- one per SQL statement inside a traced span (the statement's text: parameters are bound,
  their values are never part of a span);
- one per broker publish, and one per message received from another process (which carries
  the publisher's trace context);
- one per notification delivery attempt (endpoint host, response code, outcome).

The SDK is an optional extra (``pip install 'integration-view-gateway[otel]'``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer
    from sqlalchemy.ext.asyncio import AsyncEngine

    from gateway.config import Settings
    from gateway.http.access_log import RequestRecord

DEFAULT_SERVICE_NAME = "integration-view-gateway"
PACKAGES = "opentelemetry-api opentelemetry-sdk opentelemetry-exporter-otlp-proto-http"

# The process's tracer; None while traces are off (the one question traced code asks).
tracer: Tracer | None = None
_provider: TracerProvider | None = None
# Where a statement's span waits for its end, on SQLAlchemy's execution context.
_SQL_SPAN = "_gateway_span"


class TracingUnavailable(Exception):
    """GATEWAY_OTEL_ENDPOINT is set but the OpenTelemetry packages are not installed."""


def check(settings: Settings) -> None:
    """Raises ``TracingUnavailable`` (one line) when traces are asked for and cannot be sent."""
    if not settings.otel_endpoint:
        return
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as error:
        raise TracingUnavailable(
            f"GATEWAY_OTEL_ENDPOINT is set but OpenTelemetry is not installed ({error.name}"
            f" missing): pip install {PACKAGES}, or unset it"
        ) from None


def configure(settings: Settings) -> None:
    """Starts traces for this process when ``GATEWAY_OTEL_ENDPOINT`` is set (once)."""
    if not settings.otel_endpoint or tracer is not None:
        return
    check(settings)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.otel_endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    install(OTLPSpanExporter(endpoint=endpoint), settings.otel_service_name)


def install(
    exporter: SpanExporter, service_name: str = DEFAULT_SERVICE_NAME, *, batch: bool = True
) -> TracerProvider:
    """Sends this process's spans to ``exporter`` (replacing what was installed before);
    ``batch=False`` exports each span as it ends (tests)."""
    global tracer, _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    shutdown()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    )
    _provider, tracer = provider, provider.get_tracer("gateway")
    return provider


def shutdown() -> None:
    """Sends what is still buffered and turns traces off."""
    global tracer, _provider
    provider, _provider, tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    kind: str = "INTERNAL",
    parent: Mapping[str, str] | None = None,
) -> Iterator[Span]:
    """A span under the current one (or under the trace context in ``parent``'s headers).
    Only for callers that found ``tracer`` set."""
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    assert tracer is not None
    context = extract(parent) if parent is not None else None
    with tracer.start_as_current_span(
        name, context=context, kind=trace.SpanKind[kind], attributes=attributes
    ) as current:
        yield current


def carrier() -> dict[str, str]:
    """The current trace context as headers (``traceparent``), to send along."""
    from opentelemetry.propagate import inject

    headers: dict[str, str] = {}
    inject(headers)
    return headers


def fail(current: Span, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, description))


# --- HTTP requests --------------------------------------------------------------------------


async def trace_request(app: Any, scope: Any, receive: Any, send: Any) -> None:
    """Runs one HTTP request under its span; the span's name and attributes are set from the
    request's record once it has been answered (and logged)."""
    from gateway.http.access_log import RECORD, RequestRecord

    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name in (b"traceparent", b"tracestate")
    }
    method, path = scope.get("method", ""), scope.get("path", "")
    with span(f"{method} {path}", kind="SERVER", parent=headers) as current:
        try:
            await app(scope, receive, send)
        finally:
            record = scope.get(RECORD)
            if isinstance(record, RequestRecord):
                _annotate(current, record)


# A log line's fields, as span attributes.
_ATTRIBUTES = {
    "method": "http.request.method",
    "path": "url.path",
    "status": "http.response.status_code",
    "requestId": "gateway.request_id",
    "sqlStatements": "gateway.sql_statements",
    "account": "gateway.account",
    "keyId": "gateway.key_id",
    "operation": "graphql.operation.name",
    "cost": "gateway.cost",
    "errors": "gateway.error_codes",
}


def _annotate(current: Span, record: RequestRecord) -> None:
    fields = record.fields or {}
    if record.graphql:
        name = record.operation or record.operation_type
        current.update_name(f"graphql {name}" if name else "graphql")
        if record.operation_type:
            current.set_attribute("graphql.operation.type", record.operation_type)
    for key, value in fields.items():
        attribute = _ATTRIBUTES.get(key)
        if attribute is not None and value is not None:
            current.set_attribute(attribute, value)
    status = fields.get("status")
    if isinstance(status, int) and status >= 500:
        fail(current, f"HTTP {status}")


# --- SQL ------------------------------------------------------------------------------------


def instrument_engine(engine: AsyncEngine) -> None:
    """One span per SQL statement run inside a traced span (requests, deliveries), with its
    text and never its parameters. Registered only while traces are on."""
    from opentelemetry import trace
    from sqlalchemy import event

    system = engine.dialect.name

    def before(_conn: Any, _cur: Any, statement: str, _p: Any, context: Any, *_: Any) -> None:
        if tracer is None or context is None or statement.startswith("BEGIN"):
            return
        if not trace.get_current_span().is_recording():
            return  # background rounds that found nothing to do make no traces
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        setattr(
            context,
            _SQL_SPAN,
            tracer.start_span(
                verb,
                kind=trace.SpanKind.CLIENT,
                attributes={"db.system": system, "db.statement": statement},
            ),
        )

    def after(_conn: Any, _cur: Any, _statement: str, _p: Any, context: Any, *_: Any) -> None:
        current = getattr(context, _SQL_SPAN, None)
        if current is not None:
            delattr(context, _SQL_SPAN)
            current.end()

    def failed(exception_context: Any) -> None:
        context = exception_context.execution_context
        current = getattr(context, _SQL_SPAN, None) if context is not None else None
        if current is not None:
            delattr(context, _SQL_SPAN)
            error = exception_context.original_exception
            fail(current, type(error).__name__)  # the driver's text may hold values
            current.end()

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    event.listen(engine.sync_engine, "handle_error", failed)
