"""Text arguments longer than their declared limit are refused before anything runs.

An argument, or a field of an input type, declares its limit where the schema declares it:
``strawberry.argument(metadata={LIMIT: SEARCH_TEXT})`` (see ``gateway.limits``). Before an
operation executes, ``ArgumentLimits`` reads every argument of every selected field once, with
the request's raw variables, and refuses the first text past its limit with BAD_USER_INPUT:
no resolver repeats the check, and none can forget it. Lists are checked item by item.

This runs as a schema extension of its own rather than inside the operation guard's cost
limits (``gateway.http.limits``): those look at the shape of an operation, this at the text
it carries, declared by the types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, Union

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from gateway.limits import LIMIT, TextLimit

# A limit, or the limits of an input type's fields (by GraphQL name).
Check = Union[TextLimit, "dict[str, Check]"]
_DEFINITION = "strawberry-definition"


def _declared(item: Any) -> TextLimit | None:
    definition = item.extensions.get(_DEFINITION)
    metadata = getattr(definition, "metadata", None) or {}
    limit = metadata.get(LIMIT)
    return limit if isinstance(limit, TextLimit) else None


def _input_checks(named: GraphQLNamedType, building: set[str]) -> dict[str, Check] | None:
    if not isinstance(named, GraphQLInputObjectType) or named.name in building:
        return None
    building.add(named.name)
    checks: dict[str, Check] = {}
    for name, field in named.fields.items():
        check = _declared(field) or _input_checks(get_named_type(field.type), building)
        if check:
            checks[name] = check
    building.discard(named.name)
    return checks or None


@lru_cache(maxsize=8)
def _plan(schema: GraphQLSchema) -> dict[tuple[str, str], dict[str, Check]]:
    """(type, field) → argument → check, for the fields that have an argument to check."""
    plan: dict[tuple[str, str], dict[str, Check]] = {}
    for type_name, named in schema.type_map.items():
        for field_name, field in (getattr(named, "fields", None) or {}).items():
            args = getattr(field, "args", None)
            if not args:
                continue
            checks: dict[str, Check] = {}
            for arg_name, arg in args.items():
                check = _declared(arg) or _input_checks(get_named_type(arg.type), set())
                if check:
                    checks[arg_name] = check
            if checks:
                plan[(type_name, field_name)] = checks
    return plan


def _raw(node: ValueNode, variables: Mapping[str, Any], defaults: Mapping[str, Any]) -> Any:
    """The uncoerced value of an argument: text, lists and objects are all that is checked."""
    if isinstance(node, VariableNode):
        name = node.name.value
        if name in variables:
            return variables[name]
        default = defaults.get(name)
        return None if default is None else _raw(default, {}, {})
    if isinstance(node, StringValueNode):
        return node.value
    if isinstance(node, ListValueNode):
        return [_raw(item, variables, defaults) for item in node.values]
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _raw(f.value, variables, defaults) for f in node.fields}
    return None


def _violation(check: Check, value: Any, path: str, coordinate: str) -> GraphQLError | None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            error = _violation(check, item, f"{path}[{index}]", coordinate)
            if error is not None:
                return error
        return None
    if isinstance(check, TextLimit):
        if isinstance(value, str) and len(value) > check.max_chars:
            return GraphQLError(
                f'"{path}" of {coordinate} takes at most {check.max_chars:,} characters '
                f"({check.what}), got {len(value):,}.",
                extensions={
                    "code": "BAD_USER_INPUT",
                    "argument": path,
                    "maxLength": check.max_chars,
                },
            )
        return None
    if isinstance(value, dict):
        for name, sub in check.items():
            if name in value:
                error = _violation(sub, value[name], f"{path}.{name}", coordinate)
                if error is not None:
                    return error
    return None


def first_violation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> GraphQLError | None:
    """The first argument of the operation past its limit, if any (the document is valid)."""
    plan = _plan(schema)
    operation = get_operation_ast(document, operation_name)
    if not plan or operation is None:
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    variables = variables if isinstance(variables, Mapping) else {}
    defaults = {
        v.variable.name.value: v.default_value
        for v in operation.variable_definitions or ()
        if v.default_value is not None
    }
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    visited: set[str] = set()
    stack: list[tuple[GraphQLNamedType, SelectionSetNode]] = [(root, operation.selection_set)]
    while stack:
        parent, selections = stack.pop()
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                field = (getattr(parent, "fields", None) or {}).get(name)
                if field is None:
                    continue  # __typename and the introspection fields
                checks = plan.get((parent.name, name)) or {}
                for arg in (selection.arguments or ()) if checks else ():
                    check = checks.get(arg.name.value)
                    if check is None:
                        continue
                    value = _raw(arg.value, variables, defaults)
                    error = _violation(check, value, arg.name.value, f"{parent.name}.{name}")
                    if error is not None:
                        return error
                if selection.selection_set is not None:
                    stack.append((get_named_type(field.type), selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                named = schema.get_type(condition.name.value) if condition else parent
                if named is not None:
                    stack.append((named, selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                # A fragment's arguments are the same wherever it is spread: read it once.
                fragment = fragments.get(selection.name.value)
                if fragment is None or selection.name.value in visited:
                    continue
                visited.add(selection.name.value)
                named = schema.get_type(fragment.type_condition.name.value)
                if named is not None:
                    stack.append((named, fragment.selection_set))
    return None


class ArgumentLimits(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None:
            error = first_violation(
                ctx.schema._schema, ctx.graphql_document, ctx.operation_name, ctx.variables
            )
            if error is not None:
                # Execution is skipped for a result without data: answered like the other
                # refused operations, and coded and logged by the operation guard.
                ctx.result = ExecutionResult(data=None, errors=[error])
        yield
