"""The document cache: parse limits as the parser counts them, named limits instead of
graphql-core's aborts, one parse and one validation per document."""

from __future__ import annotations

import pytest
from graphql import get_introspection_query, specified_rules

from gateway.http import documents
from gateway.http.documents import (
    COMPARISON_BUDGET,
    MAX_VALIDATION_ERRORS,
    DocumentCache,
)
from gateway.http.limits import QueryLimits
from gateway.schema import schema

LIMITS = QueryLimits()
GRAPHQL_SCHEMA = schema._schema
RULES = tuple(specified_rules)  # what strawberry validates with (plus its own two rules)


def _must_not_validate(*_args: object) -> list[object]:
    raise AssertionError("graphql-core's validation ran on a document refused before it")


def refusal(query: str, limits: QueryLimits = LIMITS) -> str | None:
    error = DocumentCache(limits).get(query).error
    if error is None:
        return None
    assert error.extensions is not None
    assert error.extensions["code"] == "QUERY_TOO_COMPLEX", error.message
    return error.message


def validation(query: str, limits: QueryLimits = LIMITS) -> list[tuple[str, str]]:
    document = DocumentCache(limits).get(query)
    assert document.error is None
    errors = document.validation_errors(GRAPHQL_SCHEMA, RULES, limits)
    return [((e.extensions or {}).get("code", ""), e.message) for e in errors]


def test_tokens_are_counted_as_the_parser_sees_them() -> None:
    # "{ a b c }" is 5 tokens; comments are not tokens (they have their own limit)
    limits = QueryLimits(max_tokens=5)
    assert refusal("{ a b c }", limits) is None
    assert refusal("# one\n{ a # two\n b c }", limits) is None
    message = refusal("{ a b c d }", limits)
    assert message == "The document has more than 5 tokens (the limit)."


def test_comments_have_their_own_limit() -> None:
    limits = QueryLimits(max_comments=2)
    assert refusal("# 1\n# 2\n{ a }", limits) is None
    assert refusal("# 1\n# 2\n# 3\n{ a }", limits) == (
        "The document has more than 2 comments (the limit)."
    )


def test_a_huge_inline_list_is_refused_after_the_token_limit() -> None:
    # 100,000 enum values in a filter: the parser stops at the 5,001st token.
    values = ",".join(["ENABLED"] * 100_000)
    integrations = f"integrations(filter: {{status: [{values}]}}) {{ totalCount }}"
    query = f"{{ flows {{ nodes {{ {integrations} }} }} }}"
    assert refusal(query) == f"The document has more than {LIMITS.max_tokens} tokens (the limit)."


def test_source_length_and_nesting_are_limits_too() -> None:
    assert refusal("{ a }" + " " * 200, QueryLimits(max_source_chars=100)) == (
        "The document is longer than 100 characters (the limit)."
    )
    deep = "{ a " * 3000 + "}" * 3000
    message = refusal(deep, QueryLimits(max_tokens=100_000))
    assert message is not None
    assert "nested too deeply" in message


def test_a_syntax_error_is_not_a_limit() -> None:
    document = DocumentCache(LIMITS).get("{ a ")
    assert document.error is not None
    assert document.error.message.startswith("Syntax Error")
    assert not document.refused_by_limit


def test_the_introspection_query_is_within_the_limits() -> None:
    assert refusal(get_introspection_query(descriptions=True)) is None
    assert validation(get_introspection_query(descriptions=True)) == []


def test_repeated_fields_are_refused_with_the_limit_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This took graphql-core over a second before it gave up with "Validation aborted.":
    # now it is refused before graphql-core's validation runs at all.
    monkeypatch.setattr(documents, "validate_document", _must_not_validate)
    query = "{ " + " ".join(["viewer { accountId }"] * 700) + " }"
    errors = validation(query)
    assert errors == [
        (
            "QUERY_TOO_COMPLEX",
            'The field "viewer" is selected 700 times in one selection set (fragments included);'
            f" the limit is {LIMITS.max_field_repeats}.",
        )
    ]
    # a few repeats are fine (they merge)
    monkeypatch.undo()
    assert validation("{ " + " ".join(["viewer { accountId }"] * 50) + " }") == []


def test_the_merge_budget_abort_names_the_limit() -> None:
    # 50 repeats of a field with 50 repeated subfields: within the repeat limit, but the
    # pairwise comparisons exceed graphql-core's budget.
    inner = " ".join(["accountId"] * 50)
    query = "{ " + " ".join([f"viewer {{ {inner} }}"] * 50) + " }"
    errors = validation(query)
    assert errors[-1][0] == "QUERY_TOO_COMPLEX"
    assert str(COMPARISON_BUDGET) in errors[-1][1]
    assert all("Validation aborted" not in message for _, message in errors)


def test_too_many_validation_errors_names_the_limit() -> None:
    query = "{ " + " ".join(f"f{i}: nope{i}" for i in range(150)) + " }"
    errors = validation(query, QueryLimits(max_tokens=10_000))
    assert len(errors) == MAX_VALIDATION_ERRORS + 1
    assert {code for code, _ in errors[:-1]} == {""}  # coded later, by the guard
    assert errors[-1] == (
        "QUERY_TOO_COMPLEX",
        f"Validation stopped after {MAX_VALIDATION_ERRORS} errors (the limit); fix these and"
        " send the document again.",
    )


def test_documents_are_parsed_and_validated_once() -> None:
    cache = DocumentCache(LIMITS, size=2)
    first = cache.get("{ viewer { accountId } }")
    assert cache.get("{ viewer { accountId } }") is first
    errors = first.validation_errors(GRAPHQL_SCHEMA, RULES, LIMITS)
    assert first.validation_errors(GRAPHQL_SCHEMA, RULES, LIMITS) is errors
    cache.get("{ a }")
    cache.get("{ b }")
    assert cache.get("{ viewer { accountId } }") is not first  # evicted: the cache is bounded


@pytest.mark.parametrize(
    ("query", "kinds"),
    [
        ("{ a }", [("query", None, frozenset({"a"}))]),
        ("mutation M { x y }", [("mutation", "M", frozenset({"x", "y"}))]),
        ("query A { ...F } fragment F on Query { a }", [("query", "A", None)]),
    ],
)
def test_operations_are_outlined(query: str, kinds: list[tuple[str, str | None, object]]) -> None:
    operations = DocumentCache(LIMITS).get(query).operations
    assert [(o.kind.value, o.name, o.root_fields) for o in operations] == kinds


def test_repeats_merged_through_fragments_count_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "validate_document", _must_not_validate)
    inline = "{ " + " ".join(["... on Query { viewer { accountId } }"] * 300) + " }"
    spreads = " ".join(f"...F{i}" for i in range(140))
    named = "{ " + spreads + " } " + " ".join(
        f"fragment F{i} on Query {{ viewer {{ accountId }} }}" for i in range(140)
    )
    for query, count in ((inline, 300), (named, 140)):
        [(code, message)] = validation(query)
        assert code == "QUERY_TOO_COMPLEX"
        assert f'"viewer" is selected {count} times' in message
    # the same fragment spread again merges for free: fine
    monkeypatch.undo()
    assert validation("{ ...A ...A ...A } fragment A on Query { viewer { accountId } }") == []
