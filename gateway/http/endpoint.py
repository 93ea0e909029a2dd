"""The /graphql endpoint: reading the request (with size limits), authenticating it, running
the operation and writing the answer with orjson."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from strawberry.types.graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.types.execution import PreExecutionError

from gateway.context import make_context
from gateway.errors import GatewayError
from gateway.http import negotiation
from gateway.services import Services

QUERY_ONLY: tuple[OperationType, ...] = (OperationType.QUERY,)
QUERY_AND_MUTATION: tuple[OperationType, ...] = (OperationType.QUERY, OperationType.MUTATION)


class RequestError(Exception):
    """Refused before any GraphQL work: answered with ``status`` and one coded error."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def _error_body(code: str, message: str, **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, "BAD_USER_INPUT", f"The request body exceeds {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "BAD_USER_INPUT", f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _params_from_query_string(request: Request) -> dict[str, Any]:
    params = dict(parse_qsl(request.url.query, keep_blank_values=True))
    for name in ("variables", "extensions"):
        if params.get(name):
            try:
                params[name] = orjson.loads(params[name])
            except orjson.JSONDecodeError:
                raise RequestError(400, "BAD_USER_INPUT", f"{name} is not valid JSON.") from None
        else:
            params.pop(name, None)
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


class GraphQLEndpoint:
    def __init__(self, services: Services, schema: Any) -> None:
        self.services = services
        self.schema = schema
        self._ide = get_graphql_ide_html("graphiql")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        accept = request.headers.get("accept")
        if (request.method == "GET" and negotiation.wants_html(accept)
                and "query" not in request.query_params and self.services.settings.graphiql):
            return HTMLResponse(self._ide)
        media_type = negotiation.response_media_type(accept)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        try:
            if media_type is None:
                raise RequestError(406, "BAD_USER_INPUT", "Accept application/json or "
                                   "application/graphql-response+json.")
            return await self._execute(request, media_type, request_id)
        except RequestError as error:
            return self._respond(_error_body(error.code, error.message), error.status,
                                 media_type or negotiation.JSON, request_id, error.headers)

    async def _execute(self, request: Request, media_type: str, request_id: str) -> Response:
        settings = self.services.settings
        if request.method not in ("GET", "POST"):
            raise RequestError(405, "BAD_USER_INPUT", "Use GET or POST.", {"Allow": "GET, POST"})
        try:
            principal = await self.services.authenticator.principal(
                request.headers.get("authorization"))
        except GatewayError as error:
            raise RequestError(401, error.code, error.message,
                               {"WWW-Authenticate": "Bearer"}) from None
        if request.method == "GET":
            params: Any = _params_from_query_string(request)
            allowed = QUERY_ONLY
        else:
            content_type = request.headers.get("content-type", "")
            if content_type.split(";")[0].strip().lower() != "application/json":
                raise RequestError(415, "BAD_USER_INPUT", "POST a body of type application/json.")
            limit = settings.max_ingest_body_bytes if principal.role in ("INGEST", "ADMIN") \
                else settings.max_body_bytes
            body = await _read_body(request, limit)
            try:
                params = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise RequestError(400, "BAD_USER_INPUT", "The body is not valid JSON.") from None
            query = params.get("query") if isinstance(params, dict) else None
            if len(body) > settings.max_body_bytes and not _is_ingest(query):
                raise RequestError(413, "BAD_USER_INPUT",
                                   f"A query body may hold {settings.max_body_bytes} bytes; only "
                                   "ingestEvents batches may be larger.")
            allowed = QUERY_AND_MUTATION
        query, variables, operation_name = _check_params(params)
        context = make_context(self.services, principal, request_id)
        try:
            result = await self.schema.execute(
                query, variable_values=variables, context_value=context,
                operation_name=operation_name, allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError:
            raise RequestError(405, "BAD_USER_INPUT", "Mutations need POST.",
                               {"Allow": "POST"}) from None
        except MissingQueryError:
            raise RequestError(400, "BAD_USER_INPUT", "The request has no query string.") from None
        body_out: dict[str, Any] = {}
        request_error = isinstance(result, PreExecutionError) or (
            result.data is None and result.errors and all(e.path is None for e in result.errors)
        )
        if result.errors:
            body_out["errors"] = [e.formatted for e in result.errors]
        if not request_error:
            body_out["data"] = result.data
        status = 400 if request_error and media_type == negotiation.GRAPHQL_RESPONSE else 200
        return self._respond(body_out, status, media_type, request_id)

    @staticmethod
    def _respond(body: dict[str, Any], status: int, media_type: str, request_id: str,
                 headers: dict[str, str] | None = None) -> Response:
        return Response(
            orjson.dumps(body), status_code=status,
            media_type=f"{media_type}; charset=utf-8",
            headers={"X-Request-Id": request_id, **(headers or {})},
        )


def _is_ingest(query: Any) -> bool:
    """Whether an oversized body is an ingest batch (checked on the text, before parsing)."""
    return isinstance(query, str) and "ingestEvents" in query and "mutation" in query
