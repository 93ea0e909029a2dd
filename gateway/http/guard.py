"""Checks every operation before it runs and gives every error a code.

Parse and validation results are cached (bounded), then the cost limits run with the request's
variables; an over-limit operation never reaches a resolver. After execution, expected errors
keep their code and message; anything unexpected is logged and masked as INTERNAL with the
request id, so no stack trace or SQL reaches a client.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from gateway.errors import CODES, GatewayError
from gateway.http.limits import QueryLimits, check_operation, count_tokens_exceeds

log = logging.getLogger("gateway.errors")

LIMITS = QueryLimits()
_VALIDATION_CACHE_SIZE = 512
_validated: OrderedDict[str, list[GraphQLError]] = OrderedDict()


def _validate(execution_context: Any) -> list[GraphQLError]:
    query = execution_context.query
    cached = _validated.get(query) if query else None
    if cached is not None:
        _validated.move_to_end(query)
        return cached
    errors = validate_document(
        execution_context.schema._schema,
        execution_context.graphql_document,
        execution_context.validation_rules,
    )
    if query:
        _validated[query] = errors
        if len(_validated) > _VALIDATION_CACHE_SIZE:
            _validated.popitem(last=False)
    return errors


def coded(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """The error as clients see it: with ``extensions.code``, masked if unexpected."""
    original = error.original_error
    if isinstance(original, GatewayError):
        return GraphQLError(
            original.message,
            error.nodes,
            error.source,
            error.positions,
            error.path,
            None,
            {"code": original.code, **original.extensions},
        )
    extensions = error.extensions or {}
    if extensions.get("code") in CODES:
        return error
    if original is None or isinstance(original, GraphQLError):
        # Parse, validation and variable coercion failures (graphql-core wraps the scalar's
        # own error in a GraphQLError): the client's input is wrong.
        return GraphQLError(
            error.message,
            error.nodes,
            error.source,
            error.positions,
            error.path,
            None,
            {**extensions, "code": "BAD_USER_INPUT"},
        )
    log.error("request %s failed", request_id, exc_info=original)
    return GraphQLError(
        f"Internal error; quote request id {request_id} when reporting it.",
        error.nodes,
        error.source,
        error.positions,
        error.path,
        None,
        {"code": "INTERNAL", "requestId": request_id},
    )


class OperationGuard(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if (
            query
            and self.execution_context.graphql_document is None
            and count_tokens_exceeds(query, LIMITS.max_tokens)
        ):
            raise GraphQLError(
                f"The document has more than {LIMITS.max_tokens} tokens.",
                extensions={"code": "QUERY_TOO_COMPLEX"},
            )
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        errors = _validate(ctx)
        if not errors and ctx.graphql_document is not None:
            errors = check_operation(
                ctx.schema._schema, ctx.graphql_document, ctx.operation_name, ctx.variables, LIMITS
            )
        ctx.pre_execution_errors = errors
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", None)
        result.errors = [coded(e, request_id) for e in result.errors]
