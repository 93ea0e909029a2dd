"""Text arguments longer than their declared limit are refused before anything runs.

An argument, or a field of an input type, declares its limit where the schema declares it:
``strawberry.argument(metadata={LIMIT: SEARCH_TEXT})`` (see ``gateway.limits``). Before an
operation executes, ``ArgumentLimits`` reads every argument of every selected field once, with
the request's raw variables, and refuses the first text past its limit with BAD_USER_INPUT:
no resolver repeats the check, and none can forget it. Lists are checked item by item.

This runs as a schema extension of its own rather than inside the operation guard's cost
limits (``gateway.http.limits``): those look at the shape of an operation, this at the text
it carries, declared by the types. Values are read no deeper than the types declare, without
recursion: what is nested deeper is GraphQL's coercion to refuse.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
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


@dataclass(frozen=True, slots=True)
class Check:
    """What is checked in one argument or input field: its limit, or the checks of its input
    type's fields (by GraphQL name), under the ``lists`` list wrappers its type declares."""

    lists: int
    limit: TextLimit | dict[str, Check]


_DEFINITION = "strawberry-definition"


def _declared(item: Any) -> TextLimit | None:
    definition = item.extensions.get(_DEFINITION)
    metadata = getattr(definition, "metadata", None) or {}
    limit = metadata.get(LIMIT)
    return limit if isinstance(limit, TextLimit) else None


def _list_depth(type_: GraphQLInputType) -> int:
    lists = 0
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        lists += isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return lists


def _check(item: GraphQLArgument | GraphQLInputField, building: set[str]) -> Check | None:
    limit = _declared(item) or _input_checks(get_named_type(item.type), building)
    return Check(_list_depth(item.type), limit) if limit else None


def _input_checks(named: GraphQLNamedType, building: set[str]) -> dict[str, Check] | None:
    if not isinstance(named, GraphQLInputObjectType) or named.name in building:
        return None
    building.add(named.name)
    checks: dict[str, Check] = {}
    for name, field in named.fields.items():
        check = _check(field, building)
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
                check = _check(arg, set())
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


def _items(check: Check, value: Any, path: str) -> list[tuple[Any, str]]:
    """The values under the check's declared lists, with their paths; a value that is not a
    list where one is declared stands for a list of itself (GraphQL's input coercion)."""
    level = [(value, path)]
    for _ in range(check.lists):
        level = [
            pair
            for item, where in level
            for pair in (
                [(v, f"{where}[{i}]") for i, v in enumerate(item)]
                if isinstance(item, list)
                else [(item, where)]
            )
        ]
    return level


def _violation(check: Check, value: Any, path: str, coordinate: str) -> GraphQLError | None:
    """The first text past its limit, read without recursion and no deeper than the types
    declare: deeper lists or objects are left to GraphQL's coercion, which refuses them."""
    stack = [(check, value, path)]
    while stack:
        check, value, path = stack.pop()
        pending: list[tuple[Check, Any, str]] = []
        for item, where in _items(check, value, path):
            limit = check.limit
            if isinstance(limit, TextLimit):
                if isinstance(item, str) and len(item) > limit.max_chars:
                    return GraphQLError(
                        f'"{where}" of {coordinate} takes at most {limit.max_chars:,}'
                        f" characters ({limit.what}), got {len(item):,}.",
                        extensions={
                            "code": "BAD_USER_INPUT",
                            "argument": where,
                            "maxLength": limit.max_chars,
                        },
                    )
            elif isinstance(item, dict):
                pending += [
                    (sub, item[name], f"{where}.{name}")
                    for name, sub in limit.items()
                    if name in item
                ]
        stack += reversed(pending)
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
