"""The /graphql endpoint: reading the request (with size limits), authenticating it, running
the operation and writing the answer with orjson.

GraphQL over HTTP (checked by graphql-http's ``auditServer``, see tests/test_graphql_http_audit.py):
the answer is ``application/graphql-response+json`` when the client asks for it (request errors
are then 4xx without ``data``) and ``application/json`` otherwise (request errors are then 200).
Every error carries ``extensions.code``; anything unexpected is masked as ``INTERNAL`` with the
request id, which is also sent as the ``X-Request-Id`` header.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from graphql.language import OperationType as GraphQLOperationType
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from gateway.context import make_context
from gateway.errors import CODES, GatewayError
from gateway.http import graphiql, negotiation
from gateway.http.guard import LIMITS
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
_OUTLINE_CACHE_SIZE = 512


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
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        # A GraphQL request error (no operation to run): 200 for legacy application/json
        # clients, like parse and validation errors, and ``status`` otherwise.
        self.graphql = graphql


def _graphql_request_error(message: str) -> RequestError:
    return RequestError(400, "BAD_USER_INPUT", message, graphql=True)


def _error_body(code: str, message: str, **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


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


@dataclass(frozen=True, slots=True)
class _Operation:
    name: str | None
    kind: GraphQLOperationType
    root_fields: frozenset[str] | None  # None when the root selection uses fragments


_outlines: OrderedDict[str, tuple[_Operation, ...] | None] = OrderedDict()


def _outline(query: str) -> tuple[_Operation, ...] | None:
    """The operations a document defines, or None if it does not parse (strawberry then reports
    the syntax error, or the guard the token limit). Cached like the parser's own cache."""
    if query in _outlines:
        _outlines.move_to_end(query)
        return _outlines[query]
    try:
        document = parse(query, no_location=True, max_tokens=LIMITS.max_tokens)
    except GraphQLError:
        outline = None
    else:
        operations = []
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            selections = definition.selection_set.selections
            field_nodes = [s for s in selections if isinstance(s, FieldNode)]
            fields = (
                frozenset(f.name.value for f in field_nodes)
                if len(field_nodes) == len(selections)
                else None
            )
            operations.append(
                _Operation(
                    definition.name.value if definition.name else None, definition.operation, fields
                )
            )
        outline = tuple(operations)
    _outlines[query] = outline
    if len(_outlines) > _OUTLINE_CACHE_SIZE:
        _outlines.popitem(last=False)
    return outline


def _select(query: str, operation_name: str | None) -> _Operation | None:
    """The operation the request runs; a request error when there is none to run."""
    outline = _outline(query)
    if outline is None:
        return None
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


def _refuse_operation_type(kind: Any, method: str) -> RequestError:
    if kind in (OperationType.SUBSCRIPTION, GraphQLOperationType.SUBSCRIPTION):
        return RequestError(
            400, "BAD_USER_INPUT", "Subscriptions are served over WebSocket (graphql-transport-ws)."
        )
    return RequestError(
        405, "BAD_USER_INPUT", f"Mutations need POST, not {method}.", {"Allow": "POST"}
    )


def _is_ingest(operation: _Operation | None) -> bool:
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
        "message": f"Internal error; quote request id {request_id} when reporting it.",
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
        started = time.perf_counter()
        response = await self.handle(request)
        self.services.metrics.observe_request(response.status_code, time.perf_counter() - started)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        accept = request.headers.get("accept")
        if (
            request.method == "GET"
            and "query" not in request.query_params
            and self.services.settings.graphiql
            and negotiation.wants_html(accept)
        ):
            return graphiql.page(request)
        media_type = negotiation.response_media_type(accept)
        request_id = _request_id(request)
        try:
            if media_type is None:
                raise RequestError(
                    406,
                    "BAD_USER_INPUT",
                    "Accept application/json or application/graphql-response+json.",
                )
            return await self._execute(request, media_type, request_id)
        except RequestError as error:
            media_type = media_type or negotiation.JSON
            status = 200 if error.graphql and media_type == negotiation.JSON else error.status
            return self._respond(
                _error_body(error.code, error.message),
                status,
                media_type,
                request_id,
                error.headers,
            )
        except Exception:
            log.exception("request %s failed", request_id)
            return self._respond(
                {"errors": [_internal(request_id)]}, 500, media_type or negotiation.JSON, request_id
            )

    async def _execute(self, request: Request, media_type: str, request_id: str) -> Response:
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
        operation = _select(query, operation_name)
        if oversized and not _is_ingest(operation):
            raise RequestError(
                413,
                "BAD_USER_INPUT",
                f"A query body may hold {settings.max_body_bytes} bytes; only "
                "ingestEvents batches (events passed in variables) may be larger.",
            )
        if operation is not None and OperationType(operation.kind.value) not in allowed:
            raise _refuse_operation_type(operation.kind, request.method)
        context = make_context(self.services, principal, request_id)
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=allowed,
            )
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
        return self._respond(body_out, status, media_type, request_id)

    @staticmethod
    def _respond(
        body: dict[str, Any],
        status: int,
        media_type: str,
        request_id: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return Response(
            orjson.dumps(body),
            status_code=status,
            media_type=f"{media_type}; charset=utf-8",
            headers={"X-Request-Id": request_id, **(headers or {})},
        )
