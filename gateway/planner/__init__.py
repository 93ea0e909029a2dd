"""The planned executor: query operations answered without a graphql-core resolver per field.

A query's plan is compiled once per document and operation (``compile.py``) and kept in the
document cache beside its parse and validation. Per request the operation passes the same
checks as under strawberry (validation, cost limits, rate limits, text limits, variable
coercion), then runs level by level (``execute.py``) through the same loaders, lists and
presentation functions (``fields.py``), and its errors are coded and logged by the same
policy. What the planner does not answer (mutations, subscriptions, introspection, fields not
planned) is declined when compiling and goes through strawberry.
"""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult
from graphql.execution.values import get_variable_values

from gateway.context import Context
from gateway.http.documents import Document
from gateway.http.guard import admit, code_errors
from gateway.planner.compile import Plan, compile_plan
from gateway.planner.execute import Execution
from gateway.resolvers.arguments import first_violation

__all__ = ["Plan", "compile_plan", "execute"]

# graphql-core's own bound on variable coercion errors.
MAX_COERCION_ERRORS = 50


async def execute(
    schema: Any,
    query: str,
    document: Document,
    plan: Plan,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    ctx: Context,
) -> ExecutionResult:
    graphql_schema = schema._schema
    assert document.ast is not None
    errors = await admit(ctx, graphql_schema, query, document.ast, operation_name, variables)
    if not errors:
        violation = first_violation(graphql_schema, document.ast, operation_name, variables)
        errors = [violation] if violation is not None else []
    result: ExecutionResult
    if errors:
        result = ExecutionResult(None, errors)
    else:
        coerced = get_variable_values(
            graphql_schema,
            plan.operation.variable_definitions or (),
            variables or {},
            max_errors=MAX_COERCION_ERRORS,
        )
        if isinstance(coerced, list):
            result = ExecutionResult(None, coerced)
        else:
            data, field_errors = await Execution(schema, plan, ctx, coerced).run()
            result = ExecutionResult(data, field_errors or None)
    if result.errors:
        # Logged under the operation's own name, as strawberry does, even when not sent.
        name = plan.operation.name.value if plan.operation.name else operation_name
        result.errors = code_errors(result.errors, ctx.request_id, name)
    return result
