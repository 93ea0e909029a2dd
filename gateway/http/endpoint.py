"""The /graphql endpoint: reading the request (with size limits), authenticating it, running
the operation and writing the answer with orjson.

GraphQL over HTTP (checked by graphql-http's ``auditServer``, see tests/test_graphql_http_audit.py):
the answer is ``application/graphql-response+json`` when the client asks for it (request errors
are then 4xx without ``data``) and ``application/json`` otherwise (request errors are then 200).
Every error carries ``extensions.code``; anything unexpected is masked as ``INTERNAL`` with the
request id, which is also sent as the ``X-Request-Id`` header.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from graphql import GraphQLError
from graphql.language import OperationType as GraphQLOperationType
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from gateway import planner
from gateway.context import make_context
from gateway.db.engine import is_unreachable
from gateway.errors import CODES, GatewayError
from gateway.http import graphiql, negotiation
from gateway.http.access_log import RequestRecord, record_of
from gateway.http.documents import DOCUMENTS, LIMITS, Operation
from gateway.http.errors import (
    DATABASE_DOWN_MESSAGE,
    coded,
    internal_message,
    is_database_down,
    log_errors,
)
from gateway.http.guard import VALIDATION_RULES
from gateway.services import Services

log = logging.getLogger("gateway.http")

QUERY_ONLY: tuple[OperationType, ...] = (OperationType.QUERY,)
QUERY_AND_MUTATION: tuple[OperationType, ...] = (OperationType.QUERY, OperationType.MUTATION)
# Roles whose keys may call ingestEvents, and so may send bodies above the query limit.
INGEST_ROLES = frozenset({"INGEST", "ADMIN"})
# Root fields an oversized (ingest) body may select.
INGEST_FIELDS = frozenset({"ingestEvents", "__typename"})
# A client's X-Request-Id is echoed only when it looks like an id; otherwise we make one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# When a client whose request met an unreachable database should try again (seconds): a
# restarted database is back within a few, and the pool reconnects on its own.
RETRY_AFTER_SECONDS = 2


class RequestError(Exception):
    """Refused before any GraphQL work: answered with ``status`` and one coded error."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        graphql: bool = False,
        error: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        # A GraphQL request error (no operation to run): 200 for legacy application/json
        # clients, like parse and validation errors, and ``status`` otherwise.
        self.graphql = graphql
        # The error as sent, when it has more than a code and a message (locations).
        self.error = error or {"message": message, "extensions": {"code": code}}


def _graphql_request_error(message: str) -> RequestError:
    return RequestError(400, "BAD_USER_INPUT", message, graphql=True)


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, "BAD_USER_INPUT", f"The request body exceeds {limit} bytes.")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(
                    413, "BAD_USER_INPUT", f"The request body exceeds {limit} bytes."
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise RequestError(400, "BAD_USER_INPUT", "The client disconnected.") from None
    return b"".join(chunks)


def _params_from_query_string(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(request.url.query, keep_blank_values=True))
    for name in ("variables", "extensions"):
        if params.get(name):
            try:
                params[name] = orjson.loads(params[name])
            except orjson.JSONDecodeError:
                raise RequestError(400, "BAD_USER_INPUT", f"{name} is not valid JSON.") from None
        else:
            params.pop(name, None)
    if params.get("operationName") == "":
        params.pop("operationName")
    return params


def _check_params(params: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    if not isinstance(params, dict):
        raise RequestError(400, "BAD_USER_INPUT", "The request body must be a JSON object.")
    query = params.get("query")
    variables = params.get("variables")
    operation_name = params.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "BAD_USER_INPUT", "The request has no query string.")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "BAD_USER_INPUT", "variables must be a JSON object.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "BAD_USER_INPUT", "operationName must be a string.")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "BAD_USER_INPUT", "extensions must be a JSON object.")
    return query, variables, operation_name


def _select(query: str, operation_name: str | None, request_id: str) -> Operation:
    """The operation the request runs; a request error when the document does not parse or
    has none to run."""
    document = DOCUMENTS.get(query)
    if document.error is not None:
        error = coded(document.error, request_id)
        log_errors([error], request_id, operation_name)
        formatted: dict[str, Any] = error.formatted  # type: ignore[assignment]
        code = formatted["extensions"]["code"]
        raise RequestError(400, code, error.message, graphql=True, error=formatted)
    outline = document.operations
    if not outline:
        raise _graphql_request_error("The document contains no operation.")
    if operation_name is None:
        if len(outline) > 1:
            raise _graphql_request_error(
                "The document contains several operations: name the one to run in operationName."
            )
        return outline[0]
    for operation in outline:
        if operation.name == operation_name:
            return operation
    raise _graphql_request_error(f'Unknown operation named "{operation_name}".')


def _database_down() -> RequestError:
    return RequestError(
        503,
        "SERVICE_UNAVAILABLE",
        DATABASE_DOWN_MESSAGE,
        {"retry-after": str(RETRY_AFTER_SECONDS)},
    )


def _oversized(limit: int) -> RequestError:
    return RequestError(
        413,
        "BAD_USER_INPUT",
        f"A query body may hold {limit} bytes; only ingestEvents batches (events passed in"
        " variables) may be larger.",
    )


def _refuse_operation_type(kind: Any, method: str) -> RequestError:
    if kind in (OperationType.SUBSCRIPTION, GraphQLOperationType.SUBSCRIPTION):
        return RequestError(
            400, "BAD_USER_INPUT", "Subscriptions are served over WebSocket (graphql-transport-ws)."
        )
    return RequestError(
        405, "BAD_USER_INPUT", f"Mutations need POST, not {method}.", {"Allow": "POST"}
    )


def _is_ingest(operation: Operation | None) -> bool:
    """Whether an oversized body runs only ``ingestEvents`` (the only thing allowed above the
    query limit)."""
    return (
        operation is not None
        and operation.kind == GraphQLOperationType.MUTATION
        and operation.root_fields is not None
        and "ingestEvents" in operation.root_fields
        and operation.root_fields <= INGEST_FIELDS
    )


def _formatted(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """An error as sent: the guard has coded it already; anything it did not reach (an exception
    outside the resolvers) is masked here, never sent with its own message."""
    formatted: dict[str, Any] = error.formatted  # type: ignore[assignment]
    if (formatted.get("extensions") or {}).get("code") in CODES:
        return formatted
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return {
            **formatted,
            "extensions": {**(formatted.get("extensions") or {}), "code": "BAD_USER_INPUT"},
        }
    log.error("request %s failed", request_id, exc_info=original)
    return _internal(request_id)


def _internal(request_id: str) -> dict[str, Any]:
    return {
        "message": internal_message(request_id),
        "extensions": {"code": "INTERNAL", "requestId": request_id},
    }


class GraphQLEndpoint:
    def __init__(self, services: Services, schema: Any) -> None:
        self.services = services
        self.schema = schema
        if services.settings.graphiql:
            graphiql.assets()  # read the page and its files once, at startup

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.handle(request, record_of(scope))
        await response(scope, receive, send)

    async def handle(self, request: Request, record: RequestRecord) -> Response:
        """The answer to one request; what it did goes on ``record`` (for the access log and
        the metrics)."""
        accept = request.headers.get("accept")
        if (
            request.method == "GET"
            and "query" not in request.query_params
            and self.services.settings.graphiql
            and negotiation.wants_html(accept)
        ):
            return graphiql.page(request)
        media_type = negotiation.response_media_type(accept)
        request_id = record.request_id = _request_id(request)
        record.graphql = True
        try:
            if media_type is None:
                raise RequestError(
                    406,
                    "BAD_USER_INPUT",
                    "Accept application/json or application/graphql-response+json.",
                )
            return await self._execute(request, media_type, request_id, record)
        except RequestError as error:
            record.codes.append(error.code)
            media_type = media_type or negotiation.JSON
            status = 200 if error.graphql and media_type == negotiation.JSON else error.status
            return self._respond(
                {"errors": [error.error]},
                status,
                media_type,
                request_id,
                error.headers,
            )
        except Exception as error:
            if is_unreachable(error):
                log.info("request %s: SERVICE_UNAVAILABLE (database unreachable)", request_id)
                record.codes.append("SERVICE_UNAVAILABLE")
                down = _database_down()
                return self._respond(
                    {"errors": [down.error]},
                    down.status,
                    media_type or negotiation.JSON,
                    request_id,
                    down.headers,
                )
            log.exception("request %s failed", request_id)
            record.codes.append("INTERNAL")
            return self._respond(
                {"errors": [_internal(request_id)]}, 500, media_type or negotiation.JSON, request_id
            )

    async def _execute(
        self, request: Request, media_type: str, request_id: str, record: RequestRecord
    ) -> Response:
        settings = self.services.settings
        if request.method not in ("GET", "POST"):
            raise RequestError(405, "BAD_USER_INPUT", "Use GET or POST.", {"Allow": "GET, POST"})
        try:
            principal = await self.services.authenticator.principal(
                request.headers.get("authorization")
            )
        except GatewayError as error:
            raise RequestError(
                401, error.code, error.message, {"WWW-Authenticate": "Bearer"}
            ) from None
        except Exception as error:
            if not is_unreachable(error):
                raise
            unavailable = GraphQLError("", extensions={"code": "SERVICE_UNAVAILABLE"})
            log_errors([unavailable], request_id, None)
            raise _database_down() from None
        record.principal = principal
        oversized = False
        if request.method == "GET":
            params: Any = _params_from_query_string(request)
            allowed = QUERY_ONLY
        else:
            content_type = request.headers.get("content-type", "")
            if content_type.split(";")[0].strip().lower() != "application/json":
                raise RequestError(415, "BAD_USER_INPUT", "POST a body of type application/json.")
            limit = (
                settings.max_ingest_body_bytes
                if principal.role in INGEST_ROLES
                else settings.max_body_bytes
            )
            body = await _read_body(request, limit)
            if not body.strip():
                raise RequestError(400, "BAD_USER_INPUT", "The request body is empty.")
            try:
                params = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise RequestError(400, "BAD_USER_INPUT", "The body is not valid JSON.") from None
            oversized = len(body) > settings.max_body_bytes
            allowed = QUERY_AND_MUTATION
        query, variables, operation_name = _check_params(params)
        if oversized and len(query) > settings.max_body_bytes:
            raise _oversized(settings.max_body_bytes)
        operation = _select(query, operation_name, request_id)
        record.operation = operation.name
        record.operation_type = operation.kind.value
        if oversized and not _is_ingest(operation):
            raise _oversized(settings.max_body_bytes)
        if OperationType(operation.kind.value) not in allowed:
            raise _refuse_operation_type(operation.kind, request.method)
        context = make_context(self.services, principal, request_id, limited=True)
        # Queries stop at the deadline; a mutation is not cut off halfway through its
        # transaction (the statement timeout bounds each of its statements).
        deadline = (
            settings.request_timeout_seconds or None
            if operation.kind == GraphQLOperationType.QUERY
            else None
        )
        plan = self._plan(query, operation, operation_name)
        result: Any  # graphql-core's ExecutionResult, or strawberry's
        try:
            async with asyncio.timeout(deadline):
                if plan is not None:
                    result = await planner.execute(
                        self.schema,
                        query,
                        DOCUMENTS.get(query),
                        plan,
                        operation_name,
                        variables,
                        context,
                    )
                else:
                    result = await self.schema.execute(
                        query,
                        variable_values=variables,
                        context_value=context,
                        operation_name=operation_name,
                        allowed_operation_types=allowed,
                    )
        except TimeoutError:
            record.charge = context.rate_limit
            timeout = GraphQLError("", extensions={"code": "TIMEOUT"})
            log_errors([timeout], request_id, operation_name)
            raise RequestError(
                504,
                "TIMEOUT",
                f"The query ran longer than {deadline:g} s, the limit; ask for less (smaller"
                " pages, fewer nested lists or payload bodies).",
            ) from None
        except InvalidOperationTypeError as error:
            raise _refuse_operation_type(error.operation_type, request.method) from None
        except CannotGetOperationTypeError as error:
            raise _graphql_request_error(error.as_http_error_reason()) from None
        except MissingQueryError:
            raise RequestError(400, "BAD_USER_INPUT", "The request has no query string.") from None
        body_out: dict[str, Any] = {}
        request_error = isinstance(result, PreExecutionError) or (
            result.data is None
            and bool(result.errors)
            and all(e.path is None for e in result.errors)
        )
        if result.errors:
            body_out["errors"] = [_formatted(e, request_id) for e in result.errors]
        if not request_error:
            body_out["data"] = result.data
        status = 400 if request_error and media_type == negotiation.GRAPHQL_RESPONSE else 200
        if request_error and any(
            e["extensions"]["code"] == "INTERNAL" for e in body_out.get("errors", ())
        ):
            status = 500
        charge = record.charge = context.rate_limit
        headers = charge.headers() if charge is not None else None
        if result.errors and all(is_database_down(e) for e in result.errors):
            # Nothing but an unreachable database went wrong: 503, and when to try again.
            status = 503
            headers = {**(headers or {}), "retry-after": str(RETRY_AFTER_SECONDS)}
        record.codes += [e["extensions"]["code"] for e in body_out.get("errors", ())]
        if charge is not None and not charge.allowed:
            status = 429
        if context.budget.exceeded:  # stopped while resolving: the bodies alone were too many
            record.codes = ["RESPONSE_TOO_LARGE"]
            return self._respond(
                self._too_large(None, operation, request_id),
                status,
                media_type,
                request_id,
                headers,
            )
        encoded = orjson.dumps(body_out)
        if len(encoded) > settings.max_response_bytes:
            record.codes = ["RESPONSE_TOO_LARGE"]
            encoded = self._too_large(len(encoded), operation, request_id)
        return self._respond(encoded, status, media_type, request_id, headers)

    def _plan(self, query: str, operation: Operation, operation_name: str | None) -> Any:
        """The planned executor's plan for a query, when the planner is on and answers it."""
        if not self.services.settings.planner or operation.kind != GraphQLOperationType.QUERY:
            return None
        return DOCUMENTS.get(query).plan(
            self.schema._schema, operation_name, VALIDATION_RULES, LIMITS
        )

    def _too_large(self, size: int | None, operation: Operation, request_id: str) -> bytes:
        limit = self.services.settings.max_response_bytes
        too_large = GraphQLError("", extensions={"code": "RESPONSE_TOO_LARGE"})
        log_errors([too_large], request_id, operation.name)
        kept = (
            " The mutation was applied; select fewer fields to see its result."
            if operation.kind == GraphQLOperationType.MUTATION
            else ""
        )
        would_be = f"would be {size} bytes," if size is not None else "would be"
        message = (
            f"The response {would_be} more than the limit of {limit} bytes; ask for"
            f" smaller pages or fewer fields (payload bodies are the largest).{kept}"
        )
        error = {"message": message, "extensions": {"code": "RESPONSE_TOO_LARGE"}}
        return orjson.dumps({"errors": [error], "data": None})

    @staticmethod
    def _respond(
        body: dict[str, Any] | bytes,
        status: int,
        media_type: str,
        request_id: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return Response(
            body if isinstance(body, bytes) else orjson.dumps(body),
            status_code=status,
            media_type=f"{media_type}; charset=utf-8",
            headers={"X-Request-Id": request_id, **(headers or {})},
        )
