"""Expected failures: each carries one of the API's error codes (SPEC, "Errors")."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "BAD_USER_INPUT",
        "CONFLICT",
        "QUERY_TOO_COMPLEX",
        "RESPONSE_TOO_LARGE",
        "TIMEOUT",
        "RATE_LIMITED",
        "SERVICE_UNAVAILABLE",
        "PERSISTED_QUERY_NOT_FOUND",
        "INTERNAL",
    }
)


class GatewayError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def to_graphql(self) -> GraphQLError:
        return GraphQLError(self.message, extensions={"code": self.code, **self.extensions})


class Unauthenticated(GatewayError):
    code = "UNAUTHENTICATED"


class Forbidden(GatewayError):
    code = "FORBIDDEN"


class NotFound(GatewayError):
    code = "NOT_FOUND"


class BadUserInput(GatewayError):
    code = "BAD_USER_INPUT"


class Conflict(GatewayError):
    code = "CONFLICT"


class QueryTooComplex(GatewayError):
    code = "QUERY_TOO_COMPLEX"


class ResponseTooLarge(GatewayError):
    code = "RESPONSE_TOO_LARGE"


class Timeout(GatewayError):
    code = "TIMEOUT"
