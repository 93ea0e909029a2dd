"""Subscriptions over WebSocket on ``/graphql``: ``graphql-transport-ws`` and the legacy
``graphql-ws``, through strawberry's protocol handlers with what they leave out put back.

- Auth: the key comes in the ``connection_init`` payload (``{"Authorization": "Bearer gw_…"}``)
  or as the upgrade request's ``Authorization`` header; a missing, unknown or revoked key closes
  the socket with 4403 (legacy: ``connection_error``, then 4403). Each operation runs with a
  context of its own (``ConnectionContext.for_operation``); a subscription re-checks the key
  per event and ends with UNAUTHENTICATED once it is revoked (``gateway.live.streams``).
- Origins: an upgrade with an ``Origin`` header is accepted from the request's own host or from
  ``GATEWAY_WEBSOCKET_ORIGINS`` only, otherwise refused with 403 (strawberry's check).
- Only subscriptions run over the socket; queries and mutations are refused (send them over
  HTTP, where their size limits and deadlines apply).
- graphql-transport-ws: init timeout 4408, subscribe before ack 4401, duplicate id 4409, second
  init 4429, malformed messages 4400, ping answered with pong (strawberry's rules); added here:
  a message that is not a JSON object, or a subscribe without an id and a query, is 4400
  instead of an unhandled exception, the operation limit's error has a code, and the server
  pings too (every ``KEEP_ALIVE_SECONDS`` after the ack).
- A key that cannot be checked at ``connection_init`` (the database overloaded or down) closes
  the socket with 1013 (try again later), anything unexpected with 1011 and a request id:
  never a socket dropped without a close frame, never 4403 for a key that may be valid.
- A message longer than ``GATEWAY_MAX_BODY_BYTES`` characters closes the socket (1009) before
  it is parsed, as HTTP bounds a query's body.
- Legacy graphql-ws (strawberry has no init timeout and lets a second ``connection_init`` swap
  the key): init timeout 4408, ``start`` before the ack 4401, second init 4429, malformed
  messages 4400, ``ka`` keep-alives after the ack.
- ``GATEWAY_MAX_SUBSCRIPTIONS_PER_CONNECTION`` operations at most per socket; past it that
  operation gets an error coded RATE_LIMITED and the others go on.
- Stopping (``gateway.lifecycle``): every open socket is closed with 1001 (going away), and
  upgrades are refused while the server stops; a message an operation still sends to a
  closed socket is dropped, not an error.

The handlers' overrides follow strawberry 0.341's (``run_operation``, ``handle_async_results``
are its code with an operation context of their own): check them when upgrading strawberry;
tests/test_subscriptions_protocol.py pins each rule.

Every error goes through the same coding as HTTP (``OperationGuard`` codes each streamed
result); expected ones are one log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from json import JSONDecodeError
from typing import Any, cast

from graphql import GraphQLError
from graphql.language import OperationType
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET, UnsetType
from strawberry.utils.aio import aclosing

from gateway.context import ConnectionContext, Context
from gateway.db.engine import counting_statements
from gateway.errors import GatewayError
from gateway.http.access_log import log_subscription
from gateway.http.documents import DOCUMENTS
from gateway.http.errors import database_condition, log_errors
from gateway.live.streams import close_streams
from gateway.resolvers.arguments import first_violation
from gateway.services import Services

log = logging.getLogger("gateway.websocket")

KEEP_ALIVE_SECONDS = 15.0
# Close codes when the key cannot be checked at connection_init (the client may retry).
TRY_AGAIN_LATER = 1013
INTERNAL_ERROR = 1011


class InitFailed(Exception):
    """The key could not be checked at connection_init: the socket closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _init_failed(context: ConnectionContext, error: Exception) -> InitFailed:
    """A failure checking the key, as a close code: 1013 for an overloaded or unreachable
    database (one log line), 1011 for anything unexpected (logged with its traceback)."""
    # The HTTP error policy's database states, and any driver error of the connection.
    if database_condition(error) is not None or isinstance(
        error, OperationalError | InterfaceError
    ):
        log.warning(
            "connection %s: SERVICE_UNAVAILABLE at connection_init (%s)",
            context.request_id,
            type(error).__name__,
        )
        return InitFailed(TRY_AGAIN_LATER, "The server is busy; connect again shortly.")
    log.error("connection %s: INTERNAL at connection_init", context.request_id, exc_info=error)
    return InitFailed(INTERNAL_ERROR, f"Internal error; request id {context.request_id}.")


def _limit_error(limit: int) -> dict[str, Any]:
    return {
        "message": f"This connection already runs {limit} operations, the most one connection"
        " may run (GATEWAY_MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one first.",
        "extensions": {"code": "RATE_LIMITED"},
    }


def _refusal(
    schema: Any, request_id: str, query: str, variables: Any, operation_name: str | None
) -> dict[str, Any] | None:
    """The error refusing an operation before it runs: one that is not a subscription, or
    whose arguments are past their limits (the HTTP endpoint checks these itself). None lets
    strawberry run it, and report what else is wrong with it."""
    document = DOCUMENTS.get(query)
    if document.error is not None or document.ast is None:
        return None
    chosen = [
        op for op in document.operations if operation_name is None or op.name == operation_name
    ]
    if len(chosen) != 1:
        return None
    error: GraphQLError | None
    if chosen[0].kind != OperationType.SUBSCRIPTION:
        error = GraphQLError(
            "Only subscriptions run over WebSocket; send queries and mutations over HTTP"
            " (POST /graphql).",
            extensions={"code": "BAD_USER_INPUT"},
        )
    else:
        error = first_violation(schema._schema, document.ast, operation_name, variables)
    if error is None:
        return None
    log_errors([error], request_id, operation_name)
    formatted: dict[str, Any] = error.formatted  # type: ignore[assignment]
    return formatted


def _operation_name(query: str, given: str | None) -> str | None:
    """The name of the operation a query runs, for the log line (None: unnamed)."""
    if given is not None:
        return given
    document = DOCUMENTS.get(query)
    names = [op.name for op in document.operations] if document.error is None else []
    return names[0] if len(names) == 1 else None


@contextmanager
def _logged(context: Context, query: str, operation_name: str | None) -> Iterator[None]:
    """Times an operation on the socket and counts its SQL statements, for its log line."""
    started = time.perf_counter()
    with counting_statements() as statements:
        try:
            yield
        finally:
            name = _operation_name(query, operation_name)
            log_subscription(context, name, time.perf_counter() - started, statements[0])


def _log_limited(context: ConnectionContext) -> None:
    log.info("connection %s: RATE_LIMITED (operations per connection)", context.request_id)


def _valid_request(message: dict[str, Any]) -> bool:
    payload = message.get("payload")
    return (
        isinstance(message.get("id"), str)
        and isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables") or {}, dict)
        and isinstance(payload.get("operationName") or "", str)
    )


class TransportWSHandler(BaseGraphQLTransportWSHandler[ConnectionContext, None]):
    _pinger: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except InitFailed as failure:
            await self.websocket.close(code=failure.code, reason=failure.reason)
            return
        if self.connection_acknowledged and self._pinger is None:
            self._pinger = asyncio.create_task(self._ping())

    async def _ping(self) -> None:
        """The server's side of ping/pong: a ping every KEEP_ALIVE_SECONDS (clients answer
        pong), so idle connections stay open through proxies and dead ones are noticed."""
        with suppress(Exception):
            while True:
                await asyncio.sleep(KEEP_ALIVE_SECONDS)
                await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with suppress(asyncio.CancelledError):
                await self._pinger
        await super().shutdown()

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("A message must be a JSON object with a type")
            return
        await super().handle_message(message)  # type: ignore[arg-type]

    async def handle_subscribe(self, message: Any) -> None:
        if not _valid_request(message):
            await self.handle_invalid_message("A subscribe message needs an id and a query")
            return
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        ):
            _log_limited(self.context)
            error = {"id": message["id"], "type": "error", "payload": [_limit_error(limit)]}
            await self.send_message(cast(Any, error))
            return
        if self.connection_acknowledged and message["id"] not in self.operations:
            payload = message["payload"]
            refusal = _refusal(
                self.schema,
                self.context.request_id,
                payload["query"],
                payload.get("variables"),
                payload.get("operationName"),
            )
            if refusal is not None:
                error = {"id": message["id"], "type": "error", "payload": [refusal]}
                await self.send_message(cast(Any, error))
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[ConnectionContext, None]) -> None:
        # strawberry's, with a context of the operation's own and subscriptions only.
        context = self.context.for_operation()
        with _logged(context, operation.query, operation.operation_name):
            await self._run_operation(operation, context)

    async def _run_operation(
        self, operation: Operation[ConnectionContext, None], context: Context
    ) -> None:
        try:
            result_source = await self.schema.subscribe(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except (asyncio.CancelledError, _OperationStreamClosed):
            raise
        except Exception:
            log.exception("connection %s operation failed", self.context.request_id)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
        finally:
            close_streams(context)


class LegacyWSHandler(BaseGraphQLWSHandler[ConnectionContext, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.init_timeout: float = self.view.connection_init_wait_timeout.total_seconds()
        self.init_received = False
        self._init_timer: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        self._init_timer = asyncio.create_task(self._close_without_init())
        try:
            await super().handle()
        finally:
            self._init_timer.cancel()
            with suppress(asyncio.CancelledError):
                await self._init_timer

    async def _close_without_init(self) -> None:
        await asyncio.sleep(self.init_timeout)
        if not self.init_received:
            with suppress(Exception):
                await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.websocket.close(4400, "A message must be a JSON object with a type")
            return
        kind = message["type"]
        if kind == "start" and self.connection_acknowledged and not _valid_request(message):
            await self.websocket.close(4400, "A start message needs an id and a query")
            return
        if kind == "stop" and not isinstance(message.get("id"), str):
            await self.websocket.close(4400, "A stop message needs an id")
            return
        await super().handle_message(message)  # type: ignore[arg-type]

    async def handle_connection_init(self, message: Any) -> None:
        if self.init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.init_received = True
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        self.context.connection_params = payload
        try:
            await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as rejection:
            await self.send_message({"type": "connection_error", "payload": rejection.payload})
            await self.websocket.close(code=4403, reason="Forbidden")
            return
        except InitFailed as failure:
            await self.websocket.close(code=failure.code, reason=failure.reason)
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_start(self, message: Any) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.tasks
            and limit is not None
            and len(self.tasks) >= limit
        ):
            _log_limited(self.context)
            error = {"type": "error", "id": message["id"], "payload": _limit_error(limit)}
            await self.send_message(cast(Any, error))
            return
        if self.connection_acknowledged:
            payload = message["payload"]
            refusal = _refusal(
                self.schema,
                self.context.request_id,
                payload["query"],
                payload.get("variables"),
                payload.get("operationName"),
            )
            if refusal is not None:
                if message["id"] in self.tasks:
                    await self.cleanup_operation(message["id"])
                error = {"type": "error", "id": message["id"], "payload": refusal}
                await self.send_message(cast(Any, error))
                return
        await super().handle_start(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        # strawberry's, with a context of the operation's own.
        context = self.context.for_operation()
        with _logged(context, query, operation_name):
            await self._handle_async_results(
                operation_id, query, operation_name, variables, context
            )

    async def _handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
        context: Context,
    ) -> None:
        try:
            result_source = await self.schema.subscribe(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=context,
                root_value=self.root_value,
            )
            self.subscriptions[operation_id] = result_source
            first = True
            async for result in result_source:
                if first and isinstance(result, PreExecutionError):
                    assert result.errors
                    await self.send_message(
                        {"type": "error", "id": operation_id, "payload": result.errors[0].formatted}
                    )
                    return
                await self.send_data_message(result, operation_id)
                first = False
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            with suppress(Exception):
                await self.send_message({"type": "complete", "id": operation_id})
        finally:
            source = self.subscriptions.pop(operation_id, None)
            if source is not None:
                with suppress(RuntimeError):
                    await source.aclose()
            self.tasks.pop(operation_id, None)
            close_streams(context)


class LimitedWebSocketAdapter(ASGIWebSocketAdapter):
    """Messages larger than the query body limit (``GATEWAY_MAX_BODY_BYTES``) close the
    socket with 1009 instead of being parsed."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        limit = self.view.max_message_chars  # type: ignore[attr-defined]
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit:
                    log.info("websocket message over %d characters: closed", limit)
                    await self.ws.close(1009, f"A message may have at most {limit} characters")
                    return
                try:
                    yield self.view.decode_json(text)
                except JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Any) -> None:
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected  # closed by the server (stopping): nothing to send
        await super().send_json(message)

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await super().close(code, reason)


class GraphQLWebSocket(GraphQL[ConnectionContext, None]):
    """The WebSocket side of ``/graphql``."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = LimitedWebSocketAdapter

    def __init__(self, services: Services, schema: Any) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide=None,
            keep_alive=True,
            keep_alive_interval=KEEP_ALIVE_SECONDS,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=settings.websocket_init_timeout_seconds),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.websocket_origins,
        )
        self.services = services
        self.max_message_chars = settings.max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        lifecycle = self.services.lifecycle
        if scope["type"] == "websocket" and lifecycle.stopping:
            await WebSocket(scope, receive, send).close(1001)  # before the handshake: a 403
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            lifecycle.untrack(scope)

    async def get_context(self, request: Any, response: Any) -> ConnectionContext:
        assert isinstance(request, WebSocket)
        self.services.lifecycle.track(request)
        return ConnectionContext(
            services=self.services,
            request_id=uuid.uuid4().hex,
            header_authorization=request.headers.get("authorization"),
        )

    async def on_ws_connect(self, context: ConnectionContext) -> UnsetType:
        params = context.connection_params or {}
        given = params.get("Authorization", params.get("authorization"))
        authorization = given if isinstance(given, str) else context.header_authorization
        try:
            principal = await self.services.authenticator.principal(authorization)
        except GatewayError as error:
            log.info("connection %s: %s at connection_init", context.request_id, error.code)
            raise ConnectionRejectionError(
                {"message": error.message, "extensions": {"code": error.code}}
            ) from None
        except Exception as error:
            raise _init_failed(context, error) from None
        context.principal = principal
        context.authorization = authorization
        return UNSET
