"""The server's access log: one line per HTTP request, never with its query string (a GET
/graphql carries the operation's variables in its URL, and parameters are never logged).

``AccessLog`` writes the line (logger ``gateway.request``; ``log_subscription`` one for each
subscription on a WebSocket when it ends): request id, method, path, status,
duration, SQL statements, and for GraphQL requests the account, key id, operation name and
cost, which the endpoint records on the request's ``RequestRecord``. It also hands GraphQL
requests to the metrics, and each request to its trace span when traces are on (``tracing``).
uvicorn's own access log, which has none of this, is off under
``gateway serve``; if it is on (another server command), its lines lose their query strings too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway import tracing
from gateway.db.engine import counting_statements

if TYPE_CHECKING:
    from gateway.auth.keys import Principal
    from gateway.context import Context
    from gateway.metrics import Metrics
    from gateway.ratelimit.limiter import Charge

ACCESS_LOGGER = "uvicorn.access"
log = logging.getLogger("gateway.request")

# Where the endpoint finds the record of its request, in the ASGI scope.
RECORD = "gateway.request"


@dataclass
class RequestRecord:
    """What one request did, filled in as it goes (by the GraphQL endpoint)."""

    request_id: str | None = None
    graphql: bool = False  # an operation was asked for (the endpoint handled it)
    principal: Principal | None = None
    operation: str | None = None  # the operation's name, as the client named it
    operation_type: str | None = None  # query, mutation or subscription
    charge: Charge | None = None
    codes: list[str] = field(default_factory=list)  # extensions.code of each error sent
    # The fields of its log line, once written (a trace's request span is made of them too).
    fields: dict[str, Any] | None = None


def record_of(scope: Any) -> RequestRecord:
    record = scope.get(RECORD)
    return record if isinstance(record, RequestRecord) else RequestRecord()


class AccessLog:
    """ASGI middleware: times each HTTP request, counts its SQL statements, and logs it once
    its response has been sent (or the request failed)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif tracing.tracer is None:
            await self._handle(scope, receive, send)
        else:
            await tracing.trace_request(self._handle, scope, receive, send)

    async def _handle(self, scope: Any, receive: Any, send: Any) -> None:
        record = scope[RECORD] = RequestRecord()
        status = [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        started = time.perf_counter()
        with counting_statements() as statements:
            try:
                await self.app(scope, receive, sending)
            finally:
                seconds = time.perf_counter() - started
                if record.graphql:
                    self.metrics.observe_graphql(record, status[0], seconds, statements[0])
                _log(scope, record, status[0], seconds, statements[0])


def _log(scope: Any, record: RequestRecord, status: int, seconds: float, statements: int) -> None:
    principal, charge = record.principal, record.charge
    fields: dict[str, Any] = {
        "requestId": record.request_id,
        "method": scope.get("method"),
        "path": scope.get("path"),
        "status": status,
        "durationMs": round(seconds * 1000, 2),
        "sqlStatements": statements,
    }
    text = (
        f"request {record.request_id or '-'} {fields['method']} {fields['path']} {status}"
        f" {fields['durationMs']} ms sql={statements}"
    )
    if record.graphql:
        fields |= {
            "account": principal.account_id if principal else None,
            "keyId": principal.key_id if principal else None,
            "operation": record.operation,
            "cost": charge.cost if charge else None,
        }
        text += (
            f" account={fields['account'] or '-'} key={fields['keyId'] or '-'}"
            f" operation={record.operation or '-'} cost={fields['cost'] or '-'}"
        )
        if record.codes:
            fields["errors"] = record.codes
            text += f" errors={','.join(record.codes)}"
    record.fields = fields
    log.info("%s", text, extra={"fields": fields})


def log_subscription(
    context: Context, operation: str | None, seconds: float, statements: int
) -> None:
    """One line for a subscription (an operation on a WebSocket) once it has ended."""
    principal, charge = context.principal, context.rate_limit
    fields: dict[str, Any] = {
        "requestId": context.request_id,
        "kind": "subscription",
        "path": "/graphql",
        "durationMs": round(seconds * 1000, 2),
        "sqlStatements": statements,
        "account": principal.account_id,
        "keyId": principal.key_id,
        "operation": operation,
        "cost": charge.cost if charge else None,
    }
    log.info(
        "subscription %s ended after %s ms sql=%d account=%s key=%s operation=%s cost=%s",
        context.request_id,
        fields["durationMs"],
        statements,
        principal.account_id,
        principal.key_id,
        operation or "-",
        fields["cost"] or "-",
        extra={"fields": fields},
    )


class WithoutQueryString(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query:
                record.args = (*args[:2], f"{path}?…", *args[3:])
        return True


def install() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, WithoutQueryString) for f in logger.filters):
        logger.addFilter(WithoutQueryString())
