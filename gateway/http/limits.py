"""Static cost limits for GraphQL operations, checked before execution.

Everything here is pure: it looks only at the schema, the parsed (and already
validated) document, the operation name and the raw variables, and it never runs
a resolver.  The checks are:

* page arguments (``first``/``last`` within ``1..max_page_size``, not both on one
  field, ``nodes(ids:)`` at most ``max_node_ids`` long) and list arguments (at most
  ``max_list_values`` values) -> ``BAD_USER_INPUT``;
* the worst-case number of nodes the operation could return (a selected payload body
  counts ``payload_body_weight`` nodes), the depth of the deepest selection path and the
  number of aliases -> ``QUERY_TOO_COMPLEX``.

Token, comment and repeated-field limits apply while parsing (``documents.py``).

Fragments (named and inline) are followed.  Named fragments are analysed once and
the result memoised, so a document that spreads the same fragment many times (or
nests spreads to build an exponentially large operation) is still checked in time
linear in the size of the document, while the *counts* reflect the fully expanded
operation.  ``@skip``/``@include`` are ignored: the worst case is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    StringValueNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.utilities import get_operation_ast

from gateway.limits import DEFAULT_PAGE, MAX_LIST_VALUES, MAX_NODE_IDS, MAX_PAGE

__all__ = ["Measure", "QueryLimits", "check_operation", "measure_operation", "too_complex"]

BAD_USER_INPUT: Final = "BAD_USER_INPUT"
QUERY_TOO_COMPLEX: Final = "QUERY_TOO_COMPLEX"

_INTROSPECTION_FIELDS: Final = frozenset({"__schema", "__type", "__typename"})
# Subtrees below these fields are excluded from the depth count.
_DEPTH_EXCLUDED_FIELDS: Final = frozenset({"__schema", "__type"})
_PAGE_ARGS: Final = ("first", "last")
# Fields whose value can be as large as a stored body: weighted in the node count.
_HEAVY_FIELDS: Final = frozenset(
    {
        ("HttpRequest", "body"),
        ("HttpRequest", "bodyJson"),
        ("HttpResponse", "bodyRaw"),
        ("HttpResponse", "bodyJson"),
        ("Payload", "objects"),
    }
)
# Fields whose list arguments are bounded elsewhere.
_OWN_LIST_LIMITS: Final = frozenset({"ingestEvents", "nodes", "disableIntegrations"})


@dataclass(frozen=True)
class QueryLimits:
    max_nodes: int = 50_000
    max_depth: int = 20
    max_aliases: int = 30
    # Lexical tokens as the parser counts them (comments excluded, bounded on their own).
    max_tokens: int = 5_000
    max_comments: int = 1_000
    max_source_chars: int = 1_048_576
    # How often one response name may appear in one selection set.
    max_field_repeats: int = 50
    default_page_size: int = DEFAULT_PAGE
    max_page_size: int = MAX_PAGE
    max_node_ids: int = MAX_NODE_IDS
    # Values in one list argument (filters); ingestEvents has its own batch limit.
    max_list_values: int = MAX_LIST_VALUES
    # A stored request or response body (up to the payload body limit, 256 KiB by default)
    # counts as this many nodes.
    payload_body_weight: int = 10


class _Absent:
    """Marker for a variable that was neither provided nor has a default."""

    __slots__ = ()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<absent>"


_ABSENT: Final = _Absent()


def _value(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    """Resolve a literal / variable AST value to a raw Python value (uncoerced)."""
    if isinstance(node, VariableNode):
        return variables.get(node.name.value, _ABSENT)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, FloatValueNode):
        return float(node.value)
    if isinstance(node, StringValueNode | EnumValueNode):
        return node.value
    if isinstance(node, BooleanValueNode):
        return node.value
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, ListValueNode):
        return [_value(item, variables) for item in node.values]
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _value(f.value, variables) for f in node.fields}
    return _ABSENT  # pragma: no cover - all value kinds are handled above


def _as_int(value: Any) -> int | None:
    """The integer a raw value would coerce to as ``Int``, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _is_given(value: Any) -> bool:
    return value is not None and value is not _ABSENT


def _field_def(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if name == "__typename":
        return TypeNameMetaFieldDef
    if name == "__schema":
        return SchemaMetaFieldDef
    if name == "__type":
        return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(name)
    return None


def _is_list_arg(field_def: GraphQLField, name: str) -> bool:
    arg = field_def.args.get(name)
    if arg is None:
        return False
    arg_type = arg.type
    if isinstance(arg_type, GraphQLNonNull):
        arg_type = arg_type.of_type
    return isinstance(arg_type, GraphQLList)


@dataclass(frozen=True, slots=True)
class _Cost:
    """Cost of a selection set relative to a multiplier of 1 at its parent."""

    nodes: int = 0
    depth: int = 0
    aliases: int = 0


_ZERO: Final = _Cost()


class _Analyzer:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        limits: QueryLimits,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits
        self.errors: list[GraphQLError] = []
        # Events in an ingestEvents batch (None: the operation ingests nothing).
        self.events: int | None = None
        # fragment name -> cost; ``None`` while the fragment is being analysed.
        self._memo: dict[str, _Cost | None] = {}

    # -- traversal --------------------------------------------------------------

    def selection_set(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> _Cost:
        if selection_set is None:
            return _ZERO
        nodes = depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                cost = self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition
                frag_parent = self.schema.get_type(cond.name.value) if cond else parent
                cost = self.selection_set(selection.selection_set, frag_parent)
            elif isinstance(selection, FragmentSpreadNode):
                cost = self.fragment(selection.name.value)
            else:  # pragma: no cover - no other selection kinds exist
                continue
            nodes += cost.nodes
            depth = max(depth, cost.depth)
            aliases += cost.aliases
        return _Cost(nodes, depth, aliases)

    def fragment(self, name: str) -> _Cost:
        if name in self._memo:
            # A ``None`` entry means a cycle, which a valid document cannot have.
            return self._memo[name] or _ZERO
        definition = self.fragments.get(name)
        if definition is None:
            return _ZERO
        self._memo[name] = None
        parent = self.schema.get_type(definition.type_condition.name.value)
        cost = self.selection_set(definition.selection_set, parent)
        self._memo[name] = cost
        return cost

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> _Cost:
        name = node.name.value
        args = {arg.name.value: _value(arg.value, self.variables) for arg in node.arguments or ()}
        self.check_page_args(node, args)
        if name == "ingestEvents":
            batch = args.get("events")
            self.events = (self.events or 0) + (len(batch) if isinstance(batch, list) else 0)
        if name not in _OWN_LIST_LIMITS:
            self.check_list_args(node, args)

        field_def = _field_def(parent, name)
        child_type = get_named_type(field_def.type) if field_def else None
        child = self.selection_set(node.selection_set, child_type)

        multiplier = self.multiplier(field_def, args)
        own_depth = 0 if name in _DEPTH_EXCLUDED_FIELDS else 1 + child.depth
        own_aliases = (1 if node.alias else 0) + child.aliases
        if multiplier is None:  # not a list-producing field
            weight = (
                self.limits.payload_body_weight
                if parent is not None and (parent.name, name) in _HEAVY_FIELDS
                else 0
            )
            return _Cost(child.nodes + weight, own_depth, own_aliases)
        return _Cost(multiplier + multiplier * child.nodes, own_depth, own_aliases)

    def multiplier(self, field_def: GraphQLField | None, args: Mapping[str, Any]) -> int | None:
        """Page size of a connection / ``nodes(ids:)`` field, ``None`` for other fields."""
        if field_def is None:
            # Unknown field (cannot happen in a valid document): guess from usage.
            is_connection = any(arg in args for arg in _PAGE_ARGS)
        else:
            is_connection = "first" in field_def.args
        if is_connection:
            sizes = [size for arg in _PAGE_ARGS if (size := _as_int(args.get(arg))) is not None]
            return max(0, *sizes) if sizes else self.limits.default_page_size
        if field_def is not None and _is_list_arg(field_def, "ids"):
            ids = args.get("ids", _ABSENT)
            if isinstance(ids, list):
                return len(ids)
            return 1 if _is_given(ids) else 0
        return None

    # -- page arguments ---------------------------------------------------------

    def check_page_args(self, node: FieldNode, args: Mapping[str, Any]) -> None:
        name = node.name.value
        limits = self.limits
        for arg in _PAGE_ARGS:
            value = args.get(arg, _ABSENT)
            size = _as_int(value)
            if size is not None and not 1 <= size <= limits.max_page_size:
                self.bad_input(
                    f'"{arg}" on field "{name}" must be between 1 and'
                    f" {limits.max_page_size}, got {size}.",
                    node,
                )
        if all(_is_given(args.get(arg, _ABSENT)) for arg in _PAGE_ARGS):
            self.bad_input(f'Pass either "first" or "last" on field "{name}", not both.', node)
        if name == "nodes":
            ids = args.get("ids")
            if isinstance(ids, list) and len(ids) > limits.max_node_ids:
                self.bad_input(
                    f'"ids" on field "{name}" accepts at most {limits.max_node_ids} IDs,'
                    f" got {len(ids)}.",
                    node,
                )

    def check_list_args(self, node: FieldNode, args: Mapping[str, Any]) -> None:
        limit = self.limits.max_list_values
        for arg, value in args.items():
            found = _longest_list(value, arg)
            if found is not None and found[1] > limit:
                where, length = found
                self.bad_input(
                    f'"{where}" on field "{node.name.value}" accepts at most {limit} values,'
                    f" got {length}.",
                    node,
                )

    def bad_input(self, message: str, node: FieldNode) -> None:
        self.errors.append(GraphQLError(message, node, extensions={"code": BAD_USER_INPUT}))


def _longest_list(value: Any, path: str) -> tuple[str, int] | None:
    """The longest list inside an argument value, with its path (``filter.status``); read
    without recursion, since a variable's objects may be nested any depth."""
    longest: tuple[str, int] | None = None
    stack = [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, list):
            if longest is None or len(value) > longest[1]:
                longest = path, len(value)
        elif isinstance(value, dict):
            stack += [(item, f"{path}.{key}") for key, item in reversed(value.items())]
    return longest


def too_complex(message: str, node: Node | None = None) -> GraphQLError:
    """A QUERY_TOO_COMPLEX refusal (the message names the limit and its value)."""
    return GraphQLError(message, node, extensions={"code": QUERY_TOO_COMPLEX})


def _effective_variables(
    operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Provided variables, falling back to the defaults declared by the operation."""
    resolved: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        if definition.default_value is not None:
            resolved[definition.variable.name.value] = _value(definition.default_value, {})
    if variables:
        resolved.update(variables)
    return resolved


def _only_introspection(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: set[str],
) -> bool:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value not in _INTROSPECTION_FIELDS:
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not _only_introspection(selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            fragment = fragments.get(name)
            if fragment is not None and not _only_introspection(
                fragment.selection_set, fragments, seen
            ):
                return False
    return True


@dataclass(frozen=True, slots=True)
class Measure:
    """What an operation could cost, known before it runs: its errors (``[]`` when it may run),
    its worst-case node count and, for ``ingestEvents``, the events in its batch."""

    errors: list[GraphQLError]
    nodes: int = 0
    events: int | None = None


def _root_names(
    selection_set: Any,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> set[str]:
    """The names of the fields an operation selects at its root, through fragments."""
    names: set[str] = set()
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                names |= _root_names(fragments[name].selection_set, fragments, seen | {name})
        else:  # an inline fragment
            names |= _root_names(selection.selection_set, fragments, seen)
    return names


def check_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    limits: QueryLimits,
) -> list[GraphQLError]:
    """Errors for an operation that is too expensive to execute; ``[]`` when fine."""
    return measure_operation(schema, document, operation_name, variables, limits).errors


def measure_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    limits: QueryLimits,
) -> Measure:
    """The operation's errors and size (see ``Measure``).

    ``document`` must already have passed standard validation.  If the operation
    cannot be selected (unknown name, or several operations and no name) no error is
    returned and execution reports the problem.
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Measure([])
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    if _only_introspection(operation.selection_set, fragments, set()):
        return Measure([])

    analyzer = _Analyzer(schema, fragments, _effective_variables(operation, variables), limits)
    root = schema.get_root_type(operation.operation)
    try:
        cost = analyzer.selection_set(operation.selection_set, root)
    except RecursionError:
        return Measure(
            [
                *analyzer.errors,
                too_complex(
                    f"Query is nested too deeply; the maximum depth is {limits.max_depth}.",
                    operation,
                ),
            ]
        )

    errors = analyzer.errors
    if analyzer.events is not None:
        others = _root_names(operation.selection_set, fragments) - {"ingestEvents", "__typename"}
        if others:
            errors.append(
                GraphQLError(
                    "ingestEvents must be the only field of its mutation (it is charged by"
                    f" events, the others by what they read): send {', '.join(sorted(others))}"
                    " in an operation of its own.",
                    operation,
                    extensions={"code": "BAD_USER_INPUT"},
                )
            )
    if cost.nodes > limits.max_nodes:
        errors.append(
            too_complex(
                f"Query could return up to {cost.nodes} nodes, which exceeds the limit"
                f" of {limits.max_nodes}.",
                operation,
            )
        )
    if cost.depth > limits.max_depth:
        errors.append(
            too_complex(
                f"Query depth {cost.depth} exceeds the maximum depth of {limits.max_depth}.",
                operation,
            )
        )
    if cost.aliases > limits.max_aliases:
        errors.append(
            too_complex(
                f"Query uses {cost.aliases} aliases, which exceeds the limit of"
                f" {limits.max_aliases}.",
                operation,
            )
        )
    return Measure(errors, cost.nodes, analyzer.events)
