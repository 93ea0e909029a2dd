"""Compiling an operation into a plan, once per document: which types and fields it can reach
(every fragment followed, every ``@skip``/``@include`` counted as taken), and whether the
planner answers all of them. If one field is not planned, the operation is declined as a
whole and strawberry runs it."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from graphql.utilities import get_operation_ast

from gateway.planner.fields import FIELDS


@dataclass(frozen=True, slots=True)
class Plan:
    """A query operation the planner answers, with what it needs per request."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]


class _Declined(Exception):
    pass


def _possible(schema: GraphQLSchema, named: object) -> frozenset[str]:
    if isinstance(named, GraphQLObjectType):
        return frozenset({named.name})
    if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
        return frozenset(t.name for t in schema.get_possible_types(named))
    return frozenset()


class _Checker:
    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.seen: set[tuple[int, frozenset[str]]] = set()

    def selection_set(self, selections: SelectionSetNode, types: frozenset[str]) -> None:
        key = (id(selections), types)
        if key in self.seen or not types:
            return
        self.seen.add(key)
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, types)
            elif isinstance(selection, InlineFragmentNode):
                narrowed = types
                if selection.type_condition is not None:
                    condition = self.schema.get_type(selection.type_condition.name.value)
                    narrowed = types & _possible(self.schema, condition)
                self.selection_set(selection.selection_set, narrowed)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    raise _Declined
                condition = self.schema.get_type(fragment.type_condition.name.value)
                narrowed = types & _possible(self.schema, condition)
                self.selection_set(fragment.selection_set, narrowed)

    def field(self, node: FieldNode, types: frozenset[str]) -> None:
        name = node.name.value
        if name == "__typename":
            return
        if name.startswith("__"):
            raise _Declined  # introspection
        for type_name in types:
            planned = FIELDS.get(type_name)
            if planned is None or name not in planned:
                raise _Declined
            parent = self.schema.get_type(type_name)
            assert isinstance(parent, GraphQLObjectType)
            definition = parent.fields.get(name)
            if definition is None:
                raise _Declined
            if node.selection_set is not None:
                child = _possible(self.schema, get_named_type(definition.type))
                self.selection_set(node.selection_set, child)


def compile_plan(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Plan | None:
    """The plan of a query operation of a valid document, or None to leave it to strawberry."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.query_type
    if root is None:
        return None
    try:
        _Checker(schema, fragments).selection_set(operation.selection_set, frozenset({root.name}))
    except (_Declined, RecursionError):
        return None
    return Plan(operation, fragments)
