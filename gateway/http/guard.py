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

from graphql import DocumentNode, GraphQLError, GraphQLSchema, specified_rules
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gateway.http.documents import DOCUMENTS, LIMITS
from gateway.http.errors import coded, log_errors
from gateway.http.limits import measure_operation

# strawberry's default validation rules (it adds its own two in ``validate_document``).
VALIDATION_RULES = tuple(specified_rules)


async def admit(
    context: Any,
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    rules: tuple[type[ASTValidationRule], ...] = VALIDATION_RULES,
) -> list[GraphQLError]:
    """Why an operation may not run: its document's validation errors (cached), else the cost
    limits with these variables, else its key's rate limits (charged here, when ``context``
    has a limiter; the charge is kept as ``context.rate_limit``). Both executors ask this,
    before anything runs."""
    errors = DOCUMENTS.get(query).validation_errors(schema, rules, LIMITS)
    if errors:
        return errors
    measure = measure_operation(schema, document, operation_name, variables, LIMITS)
    if measure.errors:
        return measure.errors
    limiter = getattr(context, "rate_limiter", None)
    if limiter is not None:
        charge = await limiter.charge(context.principal, measure)
        context.rate_limit = charge
        if charge is not None and not charge.allowed:
            return [charge.error()]
    return []


def code_errors(
    errors: list[GraphQLError], request_id: str | None, operation_name: str | None
) -> list[GraphQLError]:
    """Every error coded (masked if unexpected), and logged once."""
    errors = [coded(e, request_id) for e in errors]
    log_errors(errors, request_id, operation_name)
    return errors


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
        ctx.pre_execution_errors = await admit(
            ctx.context,
            ctx.schema._schema,
            ctx.query,
            ctx.graphql_document,
            ctx.operation_name,
            ctx.variables,
            tuple(ctx.validation_rules),
        )
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
        result.errors = code_errors(result.errors, request_id, ctx.operation_name)
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
