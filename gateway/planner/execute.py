"""Running a plan: level by level, one batch per field and level, the answer built as plain
dicts and lists.

Each level holds the rows of one type reached through one field, and their answer objects.
Fields read from the row are filled at once; a batched field (a relation, a list, a count)
answers every parent of the level with one call, so its loader sends one statement for the
level; all the batched fields of a level, and then all the groups of the next level, run
together, so loads of the same kind share a batch as they do under strawberry.

Errors are GraphQL's: a field that fails, or is null where its type says it cannot be, gets an
error with its path and locations, and the null moves up to the nearest field or list item
that may be null (the whole ``data`` when none may).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLSkipDirective,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionSetNode,
    located_error,
)
from graphql.execution.values import VariableValues, get_argument_values, get_directive_values
from strawberry.types.arguments import convert_arguments

from gateway.context import Context
from gateway.planner.compile import Plan
from gateway.planner.fields import FIELDS, Batch, Sync

_DEFINITION = "strawberry-definition"


@dataclass(frozen=True, slots=True)
class _Shape:
    """A field's output type as completion needs it."""

    kind: str  # "leaf", "object", "abstract" or "list"
    nullable: bool
    of: _Shape | None = None
    type_name: str = ""


def _shape(type_: GraphQLOutputType) -> _Shape:
    nullable = True
    if isinstance(type_, GraphQLNonNull):
        nullable, type_ = False, type_.of_type
    if isinstance(type_, GraphQLList):
        return _Shape("list", nullable, _shape(type_.of_type))
    if isinstance(type_, GraphQLObjectType):
        return _Shape("object", nullable, type_name=type_.name)
    if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
        return _Shape("abstract", nullable, type_name=type_.name)
    return _Shape("leaf", nullable, type_name=getattr(type_, "name", ""))


_SHAPES: dict[tuple[str, str], _Shape] = {}
_TYPENAME = _Shape("leaf", False, type_name="String")


# Where a value sits: (its container, object or list; its key there; whether it may be null;
# the slot of the container itself, None for the data). A tuple: one is made per object.
_Slot = tuple[Any, "str | int", bool, Any]


def _path(slot: _Slot | None, key: str | int) -> list[str | int]:
    keys = [key]
    while slot is not None:
        keys.append(slot[1])
        slot = slot[3]
    keys.reverse()
    return keys


# (row, answer object, slot of the answer object)
_Item = tuple[Any, dict[str, Any], "_Slot | None"]


@dataclass(slots=True)
class _Group:
    type_: GraphQLObjectType
    selection_sets: list[SelectionSetNode]
    items: list[_Item] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    name: str
    nodes: list[FieldNode]
    spec: Sync | Batch | None  # None: __typename
    shape: _Shape


class Execution:
    def __init__(
        self, schema: Any, plan: Plan, ctx: Context, variables: VariableValues
    ) -> None:
        self.strawberry = schema
        self.schema: GraphQLSchema = schema._schema
        self.plan = plan
        self.ctx = ctx
        self.variables = variables
        self.errors: list[GraphQLError] = []
        self.data: dict[str, Any] = {}
        self.data_nulled = False
        # Positions nulled by an error, and their containers (kept, so no id is reused).
        self._nulled: set[tuple[int, str | int]] = set()
        self._kept: list[Any] = []
        self._entries: dict[tuple[str, tuple[int, ...]], list[_Entry]] = {}

    async def run(self) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        root = self.schema.query_type
        assert root is not None
        group = _Group(root, [self.plan.operation.selection_set], [(None, self.data, None)])
        await self._level(group)
        return (None if self.data_nulled else self.data), self.errors

    # -- fields ---------------------------------------------------------------------------

    def _included(self, node: Any) -> bool:
        if not node.directives:
            return True
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip["if"]:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and not include["if"])

    def _applies(self, condition: Any, type_: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        named = self.schema.get_type(condition.name.value)
        if named is type_:
            return True
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            return self.schema.is_sub_type(named, type_)
        return False

    def _collect(
        self, type_: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def walk(selections: SelectionSetNode) -> None:
            for selection in selections.selections:
                if not self._included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self._applies(selection.type_condition, type_):
                        walk(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in visited:
                        continue
                    visited.add(name)
                    fragment = self.plan.fragments[name]
                    if self._applies(fragment.type_condition, type_):
                        walk(fragment.selection_set)

        for selections in selection_sets:
            walk(selections)
        return fields

    def _entries_of(
        self, type_: GraphQLObjectType, selection_sets: list[SelectionSetNode]
    ) -> list[_Entry]:
        memo_key = (type_.name, tuple(id(s) for s in selection_sets))
        entries = self._entries.get(memo_key)
        if entries is not None:
            return entries
        planned = FIELDS[type_.name]
        entries = []
        for key, nodes in self._collect(type_, selection_sets).items():
            name = nodes[0].name.value
            if name == "__typename":
                entries.append(_Entry(key, name, nodes, None, _TYPENAME))
                continue
            shape = _SHAPES.get((type_.name, name))
            if shape is None:
                shape = _SHAPES[(type_.name, name)] = _shape(type_.fields[name].type)
            entries.append(_Entry(key, name, nodes, planned[name], shape))
        self._entries[memo_key] = entries
        return entries

    def _arguments(self, type_: GraphQLObjectType, entry: _Entry) -> dict[str, Any]:
        definition = type_.fields[entry.name]
        if not definition.args:
            return {}
        raw = get_argument_values(definition, entry.nodes[0], self.variables)
        declared = definition.extensions[_DEFINITION]
        converter = self.strawberry.schema_converter
        return convert_arguments(
            raw, declared.arguments, converter.scalar_registry, self.strawberry.config
        )

    # -- levels ---------------------------------------------------------------------------

    async def _level(self, group: _Group) -> None:
        type_ = group.type_
        entries = self._entries_of(type_, group.selection_sets)
        ctx = self.ctx
        children: dict[tuple[str, int], _Group] = {}
        template = dict.fromkeys(entry.key for entry in entries)  # the answer's key order
        leaves, others, batched, typenames = [], [], [], []
        for entry in entries:
            if entry.spec is None:
                typenames.append(entry.key)
            elif isinstance(entry.spec, Batch):
                batched.append(entry)
            elif entry.shape.kind == "leaf":
                leaves.append((entry.key, entry.spec.get, entry.shape.nullable, entry))
            else:
                others.append(entry)
        type_name = type_.name
        complete = self._complete
        for row, out, slot in group.items:
            out.update(template)
            for key in typenames:
                out[key] = type_name
            for key, get, nullable, entry in leaves:
                try:
                    value = get(row, ctx)
                except Exception as error:  # a field error, like a resolver's
                    complete(entry.shape, error, out, key, slot, type_, entry, children)
                    continue
                if value is not None:
                    out[key] = value
                elif not nullable:
                    complete(entry.shape, None, out, key, slot, type_, entry, children)
            for entry in others:
                spec = entry.spec
                assert isinstance(spec, Sync)
                try:
                    value = spec.get(row, ctx)
                except Exception as error:  # a field error, like a resolver's
                    value = error
                complete(entry.shape, value, out, entry.key, slot, type_, entry, children)
        if batched:
            rows = [item[0] for item in group.items]

            async def fill(entry: _Entry) -> None:
                # Completed as soon as its batch is in: errors are met in the order graphql-core
                # meets them (the first to fail nulls the parent, the later ones are dropped).
                values = await self._batch(type_, entry, rows)
                shape = entry.shape
                for (_row, out, slot), value in zip(group.items, values, strict=True):
                    complete(shape, value, out, entry.key, slot, type_, entry, children)

            await asyncio.gather(*(fill(entry) for entry in batched))
        if children:
            await asyncio.gather(*(self._level(child) for child in children.values()))

    async def _batch(
        self, type_: GraphQLObjectType, entry: _Entry, rows: list[Any]
    ) -> list[Any]:
        spec = entry.spec
        assert isinstance(spec, Batch)
        try:
            args = self._arguments(type_, entry)
            return await spec.load(self.ctx, rows, args)
        except Exception as error:  # every parent's field fails alike
            return [error] * len(rows)

    def _complete(
        self,
        shape: _Shape,
        value: Any,
        container: Any,
        key: str | int,
        slot: _Slot | None,
        parent: GraphQLObjectType,
        entry: _Entry,
        children: dict[tuple[str, int], _Group],
    ) -> None:
        if isinstance(value, Exception):
            if self._null(container, key, shape.nullable, slot):
                self.errors.append(located_error(value, entry.nodes, _path(slot, key)))
            return
        if value is None:
            if shape.nullable:
                container[key] = None
            elif self._null(container, key, False, slot):
                message = f"Cannot return null for non-nullable field {parent.name}.{entry.name}."
                self.errors.append(GraphQLError(message, entry.nodes, path=_path(slot, key)))
            return
        kind = shape.kind
        if kind == "leaf":
            container[key] = value
        elif kind == "list":
            items: list[Any] = [None] * len(value)
            container[key] = items
            list_slot = (container, key, shape.nullable, slot)
            inner = shape.of
            assert inner is not None
            if inner.kind == "object":  # the common case, without a call per item
                append = self._group(inner.type_name, entry, children).items.append
                for index, element in enumerate(value):
                    if element is None or isinstance(element, Exception):
                        self._complete(
                            inner, element, items, index, list_slot, parent, entry, children
                        )
                    else:
                        answer: dict[str, Any] = {}
                        items[index] = answer
                        append((element, answer, (items, index, inner.nullable, list_slot)))
                return
            for index, element in enumerate(value):
                self._complete(inner, element, items, index, list_slot, parent, entry, children)
        else:
            if kind == "abstract":
                type_name, value = value
            else:
                type_name = shape.type_name
            answer = {}
            container[key] = answer
            group = self._group(type_name, entry, children)
            group.items.append((value, answer, (container, key, shape.nullable, slot)))

    def _group(
        self, type_name: str, entry: _Entry, children: dict[tuple[str, int], _Group]
    ) -> _Group:
        """The next level's group of this field's objects of one type."""
        group_key = (type_name, id(entry.nodes))
        group = children.get(group_key)
        if group is None:
            child_type = self.schema.get_type(type_name)
            assert isinstance(child_type, GraphQLObjectType)
            selection_sets = [n.selection_set for n in entry.nodes if n.selection_set]
            group = children[group_key] = _Group(child_type, selection_sets)
        return group

    def _null(self, container: Any, key: str | int, nullable: bool, slot: _Slot | None) -> bool:
        """Nulls the failed position, or the nearest one above that may be null; whether the
        error is reported. As under graphql-core, an error is reported once for the position
        it nulls: not when that position, or one above, was nulled already."""
        if self._gone(slot):
            return False
        if nullable:
            container[key] = None
            return True
        while slot is not None and not slot[2]:
            slot = slot[3]
        if slot is None:
            if self.data_nulled:
                return False
            self.data_nulled = True
            return True
        if self._gone(slot):
            return False
        container, key = slot[0], slot[1]
        container[key] = None
        self._nulled.add((id(container), key))
        self._kept.append(container)
        return True

    def _gone(self, slot: _Slot | None) -> bool:
        """Whether this slot, or one above it, was nulled by an earlier error."""
        if self.data_nulled:
            return True
        while slot is not None:
            if (id(slot[0]), slot[1]) in self._nulled:
                return True
            slot = slot[3]
        return False
