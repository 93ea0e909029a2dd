"""Checks every operation before it runs and gives every error a code.

Parsing and validation come from the one document cache (``documents.py``), then the cost
limits run with the request's variables; an over-limit operation never reaches a resolver.
An operation that may run is then charged to its key's rate limits (when its context has a
limiter): over the limit, it does not run either (``RATE_LIMITED``).
After execution every error is coded and logged by the one policy of ``errors.py``; a
subscription's results are coded and logged one by one, as they are streamed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gateway.http.documents import DOCUMENTS, LIMITS
from gateway.http.errors import coded, log_errors
from gateway.http.limits import measure_operation


class OperationGuard(SchemaExtension):
    def __init__(self, *, execution_context: Any = None) -> None:
        super().__init__(execution_context=execution_context)
        self._streamed = False

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is None and ctx.query:
            document = DOCUMENTS.get(ctx.query)
            if document.error is not None:
                raise document.error
            ctx.graphql_document = document.ast
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        assert ctx.query is not None
        assert ctx.graphql_document is not None
        errors = DOCUMENTS.get(ctx.query).validation_errors(
            ctx.schema._schema, ctx.validation_rules, LIMITS
        )
        if not errors:
            measure = measure_operation(
                ctx.schema._schema, ctx.graphql_document, ctx.operation_name, ctx.variables, LIMITS
            )
            errors = measure.errors
            limiter = getattr(ctx.context, "rate_limiter", None)
            if not errors and limiter is not None:
                charge = await limiter.charge(ctx.context.principal, measure)
                ctx.context.rate_limit = charge
                if charge is not None and not charge.allowed:
                    errors = [charge.error()]
        ctx.pre_execution_errors = errors
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        if not self._streamed:  # streamed results were coded as they went out
            self._code(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self._streamed = True
        self._code(result)
        yield

    def _code(self, result: Any) -> None:
        if result is None or not getattr(result, "errors", None):
            return
        ctx = self.execution_context
        request_id = getattr(ctx.context, "request_id", None)
        result.errors = [coded(e, request_id) for e in result.errors]
        log_errors(result.errors, request_id, ctx.operation_name)
        if _is_subscription(ctx):  # HTTP requests are counted by the access log
            services = getattr(ctx.context, "services", None)
            if services is not None:
                services.metrics.count_errors(
                    [(e.extensions or {}).get("code", "INTERNAL") for e in result.errors]
                )


def _is_subscription(ctx: Any) -> bool:
    try:
        return bool(ctx.operation_type == OperationType.SUBSCRIPTION)
    except RuntimeError:  # no operation could be chosen
        return False
