"""The one cache of GraphQL documents: parsed once, outlined once, validated once.

Keyed by the query text (a bounded LRU). Parsing is bounded by the token limits, so an
oversized document is refused after reading at most that many tokens; a refusal names the
limit and its value (``QUERY_TOO_COMPLEX``). Validation adds what graphql-core cannot say
well: a selection set that repeats one field hundreds of times is refused before the
overlapping-fields rule spends seconds on it, and graphql-core's own aborts (too many
errors, its comparison budget) are reported as our limits, with the value, instead of
"Validation aborted.".

The endpoint reads a document's outline (which operations it defines) to route the request;
the ``DocumentGuard`` extension hands strawberry the parsed AST and the validation errors.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from graphql.language import Visitor, visit
from graphql.validation import ASTValidationRule
from graphql.validation.rules import overlapping_fields_can_be_merged
from graphql.validation.validate import ValidationAbortedError
from strawberry.schema.schema import validate_document

from gateway.http.limits import QUERY_TOO_COMPLEX, QueryLimits, too_complex

if TYPE_CHECKING:
    from gateway.planner.compile import Plan

__all__ = ["DOCUMENTS", "LIMITS", "Document", "DocumentCache", "Operation"]

_PARSING_ABORTED: Final = "Parsing aborted."
# graphql-core's budget for comparing fields that share a response name (default 500,000,
# about a second of CPU). GraphiQL's introspection query and the dashboard's deep view need
# under 1,000.
COMPARISON_BUDGET: Final = 10_000
overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = COMPARISON_BUDGET
# graphql-core stops after this many validation errors.
MAX_VALIDATION_ERRORS: Final = 100

LIMITS = QueryLimits()


@dataclass(frozen=True, slots=True)
class Operation:
    name: str | None
    kind: OperationType
    root_fields: frozenset[str] | None  # None when the root selection uses fragments


class Document:
    """A query text as parsed: its AST and operations, or the error that refused it."""

    __slots__ = ("_plans", "_validation", "ast", "error", "operations")

    def __init__(
        self,
        ast: DocumentNode | None,
        error: GraphQLError | None,
        operations: tuple[Operation, ...],
    ) -> None:
        self.ast = ast
        self.error = error
        self.operations = operations
        self._validation: tuple[int, list[GraphQLError]] | None = None
        # The planned executor's plan per operation name (None: declined), for one schema.
        self._plans: tuple[int, dict[str | None, Plan | None]] | None = None

    @property
    def refused_by_limit(self) -> bool:
        return self.error is not None and (self.error.extensions or {}).get(
            "code"
        ) == QUERY_TOO_COMPLEX

    def validation_errors(
        self,
        schema: GraphQLSchema,
        rules: tuple[type[ASTValidationRule], ...],
        limits: QueryLimits,
    ) -> list[GraphQLError]:
        """Standard validation (strawberry's rules), computed once per document and schema."""
        if self._validation is not None and self._validation[0] == id(schema):
            return self._validation[1]
        assert self.ast is not None
        errors = _repeated_fields(self.ast, limits) or _validate(schema, self.ast, rules)
        self._validation = (id(schema), errors)
        return errors


    def plan(
        self,
        schema: GraphQLSchema,
        operation_name: str | None,
        rules: tuple[type[ASTValidationRule], ...],
        limits: QueryLimits,
    ) -> Plan | None:
        """The planned executor's plan of a query operation, compiled once; None when the
        document is not valid or the planner declines the operation."""
        if self.ast is None or self.validation_errors(schema, rules, limits):
            return None
        if self._plans is None or self._plans[0] != id(schema):
            self._plans = (id(schema), {})
        plans = self._plans[1]
        if operation_name not in plans:
            from gateway.planner.compile import compile_plan

            plans[operation_name] = compile_plan(schema, self.ast, operation_name)
        return plans[operation_name]


def _validate(
    schema: GraphQLSchema, ast: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    errors = validate_document(schema, ast, rules)
    if not errors or not isinstance(errors[-1], ValidationAbortedError):
        return errors
    kept = errors[:-1]
    if len(kept) >= MAX_VALIDATION_ERRORS:
        reason = (
            f"Validation stopped after {MAX_VALIDATION_ERRORS} errors (the limit); fix these"
            " and send the document again."
        )
    else:
        reason = (
            "The document is too complex to validate: checking that its fields can be merged"
            f" needs more than {COMPARISON_BUDGET} comparisons (the limit). Select each field"
            " once per selection set."
        )
    return [*kept, too_complex(reason)]


class _RepeatCounter(Visitor):
    """Finds the response name selected most often in one selection set, counting the fields
    that inline fragments and fragment spreads merge into it (what graphql-core compares
    pairwise). A fragment spread twice in one selection set counts once: identical spreads
    cost graphql-core nothing."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        super().__init__()
        self.fragments = fragments
        self._memo: dict[str, Counter[str]] = {}
        self.worst: tuple[int, str] = (0, "")

    def enter_selection_set(self, node: SelectionSetNode, *_args: object) -> None:
        names = self._merged(node, frozenset())
        if names:
            name, count = names.most_common(1)[0]
            self.worst = max(self.worst, (count, name))

    def _merged(self, node: SelectionSetNode, seen: frozenset[str]) -> Counter[str]:
        names: Counter[str] = Counter()
        spreads: set[str] = set()
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                names[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                names.update(self._merged(selection.selection_set, seen))
            elif isinstance(selection, FragmentSpreadNode):
                spreads.add(selection.name.value)
        for name in spreads - seen:  # a cycle is reported by validation
            names.update(self._fragment(name, seen))
        return names

    def _fragment(self, name: str, seen: frozenset[str]) -> Counter[str]:
        if name not in self._memo:
            definition = self.fragments.get(name)
            self._memo[name] = (
                Counter()
                if definition is None
                else self._merged(definition.selection_set, seen | {name})
            )
        return self._memo[name]


def _repeated_fields(ast: DocumentNode, limits: QueryLimits) -> list[GraphQLError]:
    fragments = {
        d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)
    }
    counter = _RepeatCounter(fragments)
    visit(ast, counter)
    count, name = counter.worst
    if count <= limits.max_field_repeats:
        return []
    return [
        too_complex(
            f'The field "{name}" is selected {count} times in one selection set (fragments'
            f" included); the limit is {limits.max_field_repeats}."
        )
    ]


def _limit_error(error: GraphQLError, limits: QueryLimits) -> GraphQLError:
    """graphql-core's parser abort, restated as the limit that caused it."""
    message = error.message
    if "comments" in message:
        reason = f"The document has more than {limits.max_comments} comments (the limit)."
    elif "tokens" in message:
        reason = f"The document has more than {limits.max_tokens} tokens (the limit)."
    elif "code points" in message:
        reason = f"The document is longer than {limits.max_source_chars} characters (the limit)."
    else:
        reason = f"The document is nested too deeply; the maximum depth is {limits.max_depth}."
    return too_complex(reason)


def _outline(ast: DocumentNode) -> tuple[Operation, ...]:
    operations = []
    for definition in ast.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        selections = definition.selection_set.selections
        field_nodes = [s for s in selections if isinstance(s, FieldNode)]
        fields = (
            frozenset(f.name.value for f in field_nodes)
            if len(field_nodes) == len(selections)
            else None
        )
        name = definition.name.value if definition.name else None
        operations.append(Operation(name, definition.operation, fields))
    return tuple(operations)


class DocumentCache:
    def __init__(self, limits: QueryLimits, size: int = 512) -> None:
        self.limits = limits
        self.size = size
        self._documents: OrderedDict[str, Document] = OrderedDict()

    def get(self, query: str) -> Document:
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
            return document
        document = self._parse(query)
        self._documents[query] = document
        if len(self._documents) > self.size:
            self._documents.popitem(last=False)
        return document

    def _parse(self, query: str) -> Document:
        limits = self.limits
        try:
            ast = parse(
                query,
                max_lexical_tokens=limits.max_tokens,
                max_comments=limits.max_comments,
                max_source_length=limits.max_source_chars,
            )
        except GraphQLError as error:
            if error.message.endswith(_PARSING_ABORTED):
                return Document(None, _limit_error(error, limits), ())
            return Document(None, error, ())
        except RecursionError:
            return Document(None, _limit_error(GraphQLError("nested"), limits), ())
        return Document(ast, None, _outline(ast))

    def clear(self) -> None:
        self._documents.clear()


DOCUMENTS = DocumentCache(LIMITS)
