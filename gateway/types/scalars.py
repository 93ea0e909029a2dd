"""DateTime as RFC 3339 in UTC with ``Z`` and milliseconds; inputs must carry an offset.

A bad input value, whether written into the document or passed as a variable, raises a
``GraphQLError`` coded ``BAD_USER_INPUT``: graphql-core reports it as a validation or
variable error with that code, never as an internal failure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NewType

import strawberry
from graphql import GraphQLError, StringValueNode, ValueNode, print_ast
from strawberry.scalars import JSON

from gateway.times import iso as serialize_datetime

_MAX_SHOWN = 40


def _bad(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def _shown(value: str) -> str:
    return repr(value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "…")


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _bad("DateTime must be an RFC 3339 string such as 2026-11-01T00:00:00Z.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(
            f"{_shown(value)} is not an RFC 3339 date-time (for example 2026-11-01T00:00:00Z)."
        ) from None
    if parsed.tzinfo is None:
        raise _bad(f"{_shown(value)} has no offset: add Z or +hh:mm.")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise _bad(f"{_shown(value)} is outside the representable range.") from None


def parse_datetime_literal(node: ValueNode, _variables: Any = None) -> datetime:
    if not isinstance(node, StringValueNode):
        message = f"DateTime must be an RFC 3339 string, not {print_ast(node)[:_MAX_SHOWN]}."
        raise GraphQLError(message, node, extensions={"code": "BAD_USER_INPUT"})
    try:
        return parse_datetime(node.value)
    except GraphQLError as error:  # the same error, located in the document
        raise GraphQLError(error.message, node, extensions=error.extensions) from None


DateTime = NewType("DateTime", datetime)

DATETIME_SCALAR = strawberry.scalar(
    name="DateTime",
    description="An RFC 3339 date-time. Output in UTC with milliseconds and Z; input needs an "
    "offset.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=parse_datetime_literal,
)

__all__ = ["DATETIME_SCALAR", "JSON", "DateTime", "parse_datetime", "serialize_datetime"]
