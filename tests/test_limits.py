"""Tests for gateway.http.limits (static operation cost limits)."""

from __future__ import annotations

import time
from typing import Any, Generic, TypeVar

import pytest
import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    get_introspection_query,
    parse,
    validate,
)

from gateway.http.limits import QueryLimits, check_operation

# --------------------------------------------------------------------------------------
# A small schema shaped like the real one
# --------------------------------------------------------------------------------------

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool = False
    has_previous_page: bool = False
    start_cursor: str | None = None
    end_cursor: str | None = None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo
    total_count: int


def _empty() -> Any:
    return Connection(edges=[], nodes=[], page_info=PageInfo(), total_count=0)


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class Step(Node):
    name: str

    @strawberry.field
    def run(self) -> Run | None:
        return None


@strawberry.type
class Run(Node):
    status: str

    @strawberry.field
    def steps(self, first: int | None = None, after: str | None = None) -> Connection[Step]:
        return _empty()

    @strawberry.field
    def integration(self) -> Integration | None:
        return None


@strawberry.type
class Integration(Node):
    name: str

    @strawberry.field
    def runs(
        self,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Run]:
        return _empty()

    @strawberry.field
    def flow(self) -> Flow | None:
        return None


@strawberry.type
class Flow(Node):
    name: str

    @strawberry.field
    def integrations(
        self,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Integration]:
        return _empty()


@strawberry.type
class Query:
    @strawberry.field
    def flows(
        self,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Flow]:
        return _empty()

    @strawberry.field
    def nodes(self, ids: list[strawberry.ID]) -> list[Node | None]:
        return []

    @strawberry.field
    def flow(self, flow_id: str) -> Flow | None:
        return None


SCHEMA: GraphQLSchema = strawberry.Schema(query=Query, types=[Flow, Integration, Run, Step])._schema
DEFAULT = QueryLimits()


def _doc(query: str, *, check_valid: bool = True) -> DocumentNode:
    document = parse(query)
    if check_valid:
        assert validate(SCHEMA, document) == [], "test query must be valid"
    return document


def check(
    query: str,
    variables: dict[str, Any] | None = None,
    limits: QueryLimits = DEFAULT,
    operation_name: str | None = None,
    *,
    check_valid: bool = True,
) -> list[GraphQLError]:
    return check_operation(
        SCHEMA, _doc(query, check_valid=check_valid), operation_name, variables, limits
    )


def codes(errors: list[GraphQLError]) -> list[str]:
    return [(e.extensions or {}).get("code", "") for e in errors]


def node_count(query: str, variables: dict[str, Any] | None = None) -> int:
    """The computed node count, found by bisecting ``max_nodes``."""
    lo, hi = 0, 10**7
    while lo < hi:
        mid = (lo + hi) // 2
        if check(query, variables, QueryLimits(max_nodes=mid)):
            lo = mid + 1
        else:
            hi = mid
    return lo


def test_schema_shape() -> None:
    query_type = SCHEMA.query_type
    assert query_type is not None
    assert set(query_type.fields["flows"].args) == {"first", "after", "last", "before"}
    assert str(query_type.fields["flows"].type) == "FlowConnection!"
    assert str(query_type.fields["nodes"].type) == "[Node]!"
    assert set(SCHEMA.get_type("FlowConnection").fields) == {  # type: ignore[union-attr]
        "edges",
        "nodes",
        "pageInfo",
        "totalCount",
    }


# --------------------------------------------------------------------------------------
# Node count
# --------------------------------------------------------------------------------------

DEFAULTS_QUERY = """
{
  flows {
    edges { cursor node { name integrations { nodes { runs { totalCount } } } } }
  }
}
"""


def test_simple_query_passes() -> None:
    assert check("{ flows { totalCount nodes { id name } } }") == []


def test_default_page_sizes() -> None:
    # 10 flows + 10 * 10 integrations + 10 * 10 * 10 runs
    assert node_count(DEFAULTS_QUERY) == 10 + 100 + 1000
    assert check(DEFAULTS_QUERY, limits=QueryLimits(max_nodes=1110)) == []
    errors = check(DEFAULTS_QUERY, limits=QueryLimits(max_nodes=1109))
    assert codes(errors) == ["QUERY_TOO_COMPLEX"]
    assert "1110" in errors[0].message
    assert "1109" in errors[0].message


def test_edges_and_nodes_are_the_page_itself() -> None:
    # edges { node } and nodes { } below one connection do not multiply again
    query = "{ flows(first: 7) { edges { node { id } } nodes { id } pageInfo { hasNextPage } } }"
    assert node_count(query) == 7


def test_last_is_a_multiplier() -> None:
    assert node_count("{ flows(last: 3) { nodes { integrations(last: 4) { totalCount } } } }") == (
        3 + 12
    )


def test_sibling_connections_are_summed() -> None:
    query = """
    {
      flows(first: 2) { nodes { integrations(first: 3) { totalCount } } }
      other: flows(first: 5) { totalCount }
      flow(flowId: "f") { integrations(first: 4) { nodes { runs(first: 6) { totalCount } } } }
    }
    """
    assert node_count(query) == (2 + 6) + 5 + (4 + 24)


def test_four_levels() -> None:
    query = """
    {
      flows(first: 2) { nodes { integrations(first: 3) { nodes {
        runs(first: 4) { nodes { steps(first: 5) { nodes { name } } } }
      } } } }
    }
    """
    assert node_count(query) == 2 + 6 + 24 + 120


EXACT_LIMIT = """
{
  flows(first: 50) { nodes { integrations(first: 27) { nodes {
    runs(first: 36) { totalCount }
  } } } }
}
"""
ONE_MORE = """
{
  flows(first: 50) { nodes { integrations(first: 27) { nodes {
    runs(first: 36) { totalCount }
  } } } }
  flow(flowId: "f") { integrations(first: 1) { totalCount } }
}
"""


def test_exact_boundary_of_default_max_nodes() -> None:
    # 50 + 50 * 27 + 50 * 27 * 36 = 50 + 1,350 + 48,600 = 50,000
    assert DEFAULT.max_nodes == 50 + 50 * 27 + 50 * 27 * 36
    assert check(EXACT_LIMIT) == []
    errors = check(ONE_MORE)
    assert codes(errors) == ["QUERY_TOO_COMPLEX"]
    assert errors[0].extensions == {"code": "QUERY_TOO_COMPLEX"}
    assert "50001" in errors[0].message
    assert "50000" in errors[0].message


def test_max_page_sizes_everywhere_is_too_complex() -> None:
    query = """
    { flows(first: 100) { nodes { integrations(first: 100) { nodes {
        runs(first: 100) { totalCount } } } } } }
    """
    errors = check(query)
    assert codes(errors) == ["QUERY_TOO_COMPLEX"]
    assert str(100 + 100**2 + 100**3) in errors[0].message


def test_nodes_ids_multiplies_by_number_of_ids() -> None:
    query = """
    {
      nodes(ids: ["a", "b", "c"]) {
        id
        ... on Flow { integrations(first: 4) { nodes { runs(first: 2) { totalCount } } } }
      }
    }
    """
    assert node_count(query) == 3 + 12 + 24


def test_nodes_ids_from_variable() -> None:
    query = """
    query ($ids: [ID!]!) {
      nodes(ids: $ids) { ... on Flow { integrations(first: 10) { totalCount } } }
    }
    """
    assert node_count(query, {"ids": ["a", "b"]}) == 2 + 20
    assert node_count(query, {"ids": []}) == 0


def test_too_complex_reported_once() -> None:
    query = """
    {
      a: flows(first: 100) { nodes { integrations(first: 100) { nodes { runs { totalCount } } } } }
      b: flows(first: 100) { nodes { integrations(first: 100) { nodes { runs { totalCount } } } } }
    }
    """
    assert codes(check(query)) == ["QUERY_TOO_COMPLEX"]


# --------------------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------------------

VAR_QUERY = """
query Q($flows: Int, $integrations: Int) {
  flows(first: $flows) { nodes { integrations(first: $integrations) { totalCount } } }
}
"""


def test_variables_drive_the_multipliers() -> None:
    assert node_count(VAR_QUERY, {"flows": 3, "integrations": 7}) == 3 + 21


def test_missing_or_null_variables_use_default_page_size() -> None:
    assert node_count(VAR_QUERY) == 10 + 100
    assert node_count(VAR_QUERY, {"flows": None}) == 10 + 100
    assert node_count(VAR_QUERY, {"integrations": 2}) == 10 + 20


def test_variable_default_values() -> None:
    query = """
    query ($flows: Int = 4, $integrations: Int = 5) {
      flows(first: $flows) { nodes { integrations(first: $integrations) { totalCount } } }
    }
    """
    assert node_count(query) == 4 + 20
    # provided values win over defaults
    assert node_count(query, {"flows": 1}) == 1 + 5


def test_bad_page_size_in_variable() -> None:
    errors = check(VAR_QUERY, {"flows": 101})
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0].message == '"first" on field "flows" must be between 1 and 100, got 101.'


def test_bad_page_size_in_variable_default() -> None:
    query = "query ($n: Int = 0) { flows(first: $n) { totalCount } }"
    errors = check(query)
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0].message == '"first" on field "flows" must be between 1 and 100, got 0.'
    assert check(query, {"n": 5}) == []


def test_exact_boundary_with_variables() -> None:
    query = """
    query ($a: Int!, $b: Int!, $c: Int!) {
      flows(first: $a) { nodes { integrations(first: $b) { nodes {
        runs(first: $c) { totalCount } } } } }
    }
    """
    assert check(query, {"a": 50, "b": 27, "c": 36}) == []
    assert codes(check(query, {"a": 50, "b": 27, "c": 37})) == ["QUERY_TOO_COMPLEX"]


# --------------------------------------------------------------------------------------
# Fragments
# --------------------------------------------------------------------------------------


def test_named_fragments_are_followed_and_multiplied() -> None:
    query = """
    fragment FlowBits on Flow { integrations(first: 20) { totalCount } }
    {
      flows(first: 5) {
        nodes { ...FlowBits }
        edges { node { ...FlowBits } }
      }
    }
    """
    # the fragment is counted at each spread: 5 + 2 * (5 * 20)
    assert node_count(query) == 205


def test_nested_named_fragments() -> None:
    query = """
    fragment RunBits on Integration { runs(first: 3) { totalCount } }
    fragment IntegrationBits on Flow {
      integrations(first: 2) { nodes { ...RunBits } edges { node { ...RunBits } } }
    }
    query { flows(first: 4) { nodes { ...IntegrationBits } } }
    """
    assert node_count(query) == 4 + 4 * (2 + 2 * 2 * 3)


def test_inline_fragments_with_and_without_type_condition() -> None:
    query = """
    {
      flows(first: 3) {
        ... { nodes { ... on Flow { integrations(first: 5) { totalCount } } } }
      }
    }
    """
    assert node_count(query) == 3 + 15


def test_fragment_on_interface_uses_type_condition() -> None:
    query = """
    fragment IntegrationRuns on Integration { runs(first: 9) { totalCount } }
    {
      nodes(ids: ["1", "2"]) {
        ... on Node { id }
        ...IntegrationRuns
      }
    }
    """
    assert node_count(query) == 2 + 18


def test_page_args_in_fragments_are_checked_once() -> None:
    query = """
    fragment Bad on Flow { integrations(first: 0) { totalCount } }
    { flows { nodes { ...Bad } edges { node { ...Bad } } } }
    """
    errors = check(query)
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0].message == '"first" on field "integrations" must be between 1 and 100, got 0.'


def test_repeated_spreads_are_memoised() -> None:
    # F0 has one alias; every Fi spreads F(i-1) twice, so the expanded operation has
    # 2**40 aliases. The analysis must still be instant (memoised per fragment).
    levels = 40
    fragments = ["fragment F0 on Query { a: flows(first: 1) { totalCount } }"]
    fragments += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)]
    query = "\n".join([*fragments, f"{{ ...F{levels - 1} }}"])
    started = time.perf_counter()
    errors = check(query, check_valid=False)
    assert time.perf_counter() - started < 1.0
    assert codes(errors) == ["QUERY_TOO_COMPLEX", "QUERY_TOO_COMPLEX"]
    assert str(2 ** (levels - 1)) in errors[0].message  # nodes: one per expanded flows
    assert str(2 ** (levels - 1)) in errors[1].message  # aliases


def test_long_fragment_chain_does_not_crash() -> None:
    chain = 1500
    link = "fragment F{} on Flow {{ integrations(first: 1) {{ nodes {{ flow {{ ...F{} }} }} }} }}"
    fragments = [link.format(i, i + 1) for i in range(chain)]
    fragments.append(f"fragment F{chain} on Flow {{ name }}")
    query = "\n".join([*fragments, '{ flow(flowId: "f") { ...F0 } }'])
    errors = check(query, check_valid=False)
    assert codes(errors) == ["QUERY_TOO_COMPLEX"]


# --------------------------------------------------------------------------------------
# Page arguments
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 101, -1, 1000])
def test_first_out_of_range(value: int) -> None:
    query = f"""
    {{ flow(flowId: "f") {{ integrations(first: 1) {{ nodes {{ runs(first: {value}) {{
        totalCount }} }} }} }} }}
    """
    errors = check(query)
    assert codes(errors)[0] == "BAD_USER_INPUT"
    assert errors[0].extensions == {"code": "BAD_USER_INPUT"}
    assert errors[0].message == f'"first" on field "runs" must be between 1 and 100, got {value}.'
    assert errors[0].locations  # points at the field


@pytest.mark.parametrize("value", [1, 100])
def test_first_in_range(value: int) -> None:
    assert check(f"{{ flows(first: {value}) {{ totalCount }} }}") == []


def test_last_out_of_range() -> None:
    errors = check("{ flows(last: 101) { totalCount } }")
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0].message == '"last" on field "flows" must be between 1 and 100, got 101.'


def test_custom_max_page_size() -> None:
    limits = QueryLimits(max_page_size=20)
    assert check("{ flows(first: 20) { totalCount } }", limits=limits) == []
    errors = check("{ flows(first: 21) { totalCount } }", limits=limits)
    assert errors[0].message == '"first" on field "flows" must be between 1 and 20, got 21.'


def test_first_and_last_together() -> None:
    query = """
    { flow(flowId: "f") { integrations { nodes { runs(first: 5, last: 5) { totalCount } } } } }
    """
    errors = check(query)
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0].message == 'Pass either "first" or "last" on field "runs", not both.'


def test_first_and_last_variables_only_one_provided() -> None:
    query = "query ($f: Int, $l: Int) { flows(first: $f, last: $l) { totalCount } }"
    assert check(query, {"f": 5}) == []
    assert check(query, {"l": 5, "f": None}) == []
    assert codes(check(query, {"f": 5, "l": 5})) == ["BAD_USER_INPUT"]


def test_node_ids_limit() -> None:
    ids = ", ".join(f'"{i}"' for i in range(100))
    assert check(f"{{ nodes(ids: [{ids}]) {{ id }} }}") == []
    ids = ", ".join(f'"{i}"' for i in range(101))
    errors = check(f"{{ nodes(ids: [{ids}]) {{ id }} }}")
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert "101" in errors[0].message
    assert "nodes" in errors[0].message


def test_node_ids_limit_with_variable() -> None:
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    assert check(query, {"ids": [str(i) for i in range(100)]}) == []
    assert codes(check(query, {"ids": [str(i) for i in range(101)]})) == ["BAD_USER_INPUT"]
    assert codes(
        check(query, {"ids": [str(i) for i in range(3)]}, QueryLimits(max_node_ids=2))
    ) == ["BAD_USER_INPUT"]


def test_page_errors_come_first_and_all_are_reported() -> None:
    aliases = "\n".join(f"a{i}: flows(first: 1) {{ totalCount }}" for i in range(31))
    query = f"""
    {{
      {aliases}
      flows(first: 0) {{ totalCount }}
      big: flows(first: 100) {{ nodes {{ integrations(first: 100) {{ nodes {{
        runs(first: 100) {{ totalCount }} }} }} }} }}
      x: flows(first: 5, last: 500) {{ totalCount }}
    }}
    """
    errors = check(query)
    assert codes(errors) == [
        "BAD_USER_INPUT",  # first: 0
        "BAD_USER_INPUT",  # last: 500
        "BAD_USER_INPUT",  # first + last
        "QUERY_TOO_COMPLEX",  # nodes
        "QUERY_TOO_COMPLEX",  # aliases
    ]


# --------------------------------------------------------------------------------------
# Depth and aliases
# --------------------------------------------------------------------------------------

_CYCLE = ["integrations(first: 1)", "nodes", "flow"]
_LEAF = {"integrations(first: 1)": "totalCount", "nodes": "id", "flow": "name"}


def deep_query(depth: int) -> str:
    """A valid query whose deepest path has exactly ``depth`` fields (including the leaf)."""
    path = ['flow(flowId: "f")']
    while len(path) < depth - 1:
        path.append(_CYCLE[(len(path) - 1) % 3])
    leaf = _LEAF.get(path[-1], "name")
    body = leaf
    for field in reversed(path):
        body = f"{field} {{ {body} }}"
    return "{ " + body + " }"


def test_deep_query_helper() -> None:
    assert deep_query(3) == '{ flow(flowId: "f") { integrations(first: 1) { totalCount } } }'


def test_depth_20_passes_21_fails() -> None:
    assert check(deep_query(20)) == []
    errors = check(deep_query(21))
    assert codes(errors) == ["QUERY_TOO_COMPLEX"]
    assert "21" in errors[0].message
    assert "20" in errors[0].message


def test_depth_counts_through_fragments() -> None:
    query = """
    fragment Deep on Integration { runs { nodes { steps { nodes { run { status } } } } } }
    { flows { nodes { integrations { nodes { ...Deep } } } } }
    """
    # flows nodes integrations nodes runs nodes steps nodes run status = 10
    assert check(query, limits=QueryLimits(max_depth=10)) == []
    assert codes(check(query, limits=QueryLimits(max_depth=9))) == ["QUERY_TOO_COMPLEX"]


def test_depth_excludes_introspection_subtrees() -> None:
    query = """
    {
      flows { totalCount }
      __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } }
      __type(name: "Flow") { fields { type { ofType { ofType { name } } } } }
    }
    """
    assert check(query, limits=QueryLimits(max_depth=2)) == []
    assert codes(check(query, limits=QueryLimits(max_depth=1))) == ["QUERY_TOO_COMPLEX"]


def _aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: flows(first: 1) {{ totalCount }}" for i in range(count)) + " }"


def test_30_aliases_pass_31_fail() -> None:
    assert check(_aliased(30)) == []
    errors = check(_aliased(31))
    assert codes(errors) == ["QUERY_TOO_COMPLEX"]
    assert "31" in errors[0].message
    assert "30" in errors[0].message


def test_aliases_in_fragments_count_per_spread() -> None:
    query = """
    fragment Two on Flow { x: name y: id }
    { flows { nodes { ...Two } edges { node { ...Two } } } }
    """
    assert check(query, limits=QueryLimits(max_aliases=4)) == []
    assert codes(check(query, limits=QueryLimits(max_aliases=3))) == ["QUERY_TOO_COMPLEX"]


def test_nested_aliases_count() -> None:
    query = """
    { a: flows(first: 2) { b: nodes { c: integrations(first: 2) { d: totalCount } } } }
    """
    assert check(query, limits=QueryLimits(max_aliases=4)) == []
    assert codes(check(query, limits=QueryLimits(max_aliases=3))) == ["QUERY_TOO_COMPLEX"]


# --------------------------------------------------------------------------------------
# Introspection and operation selection
# --------------------------------------------------------------------------------------


def test_introspection_query_passes() -> None:
    assert check(get_introspection_query()) == []
    assert check(get_introspection_query(descriptions=True, directive_is_repeatable=True)) == []


def test_introspection_query_passes_even_with_tiny_limits() -> None:
    tiny = QueryLimits(max_nodes=0, max_depth=1, max_aliases=0)
    assert check(get_introspection_query(), limits=tiny) == []
    assert check("{ __typename t: __typename }", limits=tiny) == []


def test_typename_does_not_make_a_query_introspection_only() -> None:
    tiny = QueryLimits(max_nodes=5)
    assert codes(check("{ __typename flows { totalCount } }", limits=tiny)) == ["QUERY_TOO_COMPLEX"]


def test_operation_selected_by_name() -> None:
    query = """
    query Cheap { flows(first: 1) { totalCount } }
    query Expensive { flows(first: 100) { nodes { integrations(first: 100) { nodes {
        runs(first: 100) { totalCount } } } } } }
    """
    assert check(query, operation_name="Cheap") == []
    assert codes(check(query, operation_name="Expensive")) == ["QUERY_TOO_COMPLEX"]
    # unknown / ambiguous operations are left for execution to report
    assert check(query, operation_name="Nope") == []
    assert check(query) == []


def test_single_operation_selected_without_name() -> None:
    assert codes(check("query Named { flows(first: 0) { totalCount } }")) == ["BAD_USER_INPUT"]
