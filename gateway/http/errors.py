"""How errors reach clients and the log: one policy for every error of a request.

- An error raised by our code as a ``GatewayError`` keeps its code and message.
- An error without a path comes from the client's document or variables (syntax, validation,
  variable coercion, a scalar's parser): ``BAD_USER_INPUT`` unless it already has a code.
  (An exception escaping an extension never gets here: strawberry answers it outside the
  operation, and the endpoint masks it.)
- A database statement cancelled by its timeout is ``TIMEOUT``; a write that waited too long
  for its account's other writes, or for a connection of an exhausted pool, is
  ``SERVICE_UNAVAILABLE``; so is a database that cannot be reached (refused, lost, shutting
  down or starting up: ``is_unreachable``), whose errors the endpoint answers with HTTP 503.
- Anything else is unexpected: masked as ``INTERNAL`` with the request id.

Expected errors are logged as one line (code, request id, operation name, the field's path);
only ``INTERNAL`` ones carry a traceback. Messages of expected errors may quote the client's
input, so they are not logged; neither are variables or bodies. SQL parameters are kept out
of tracebacks by the engine (``hide_parameters``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.db.engine import AccountBusy, is_statement_timeout, is_unreachable
from gateway.errors import CODES, GatewayError

log = logging.getLogger("gateway.errors")

STATEMENT_TIMEOUT_MESSAGE = "A database statement took longer than its time limit."
POOL_BUSY_MESSAGE = "Every database connection of this server is busy; try again shortly."
ACCOUNT_BUSY_MESSAGE = (
    "The account's other writes kept it busy for too long; nothing was changed, try again."
)
DATABASE_DOWN_MESSAGE = "The database cannot be reached at the moment; try again shortly."


def internal_message(request_id: str | None) -> str:
    return f"Internal error; quote request id {request_id} when reporting it."


def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message, error.nodes, error.source, error.positions, error.path, None, extensions
    )


def coded(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """The error as clients see it: with ``extensions.code``, masked if unexpected. The
    result keeps the original error (``original_error``) only for the log: see ``unexpected``."""
    original = error.original_error
    if isinstance(original, GatewayError):
        return _with(error, original.message, {"code": original.code, **original.extensions})
    extensions = error.extensions or {}
    if extensions.get("code") in CODES:
        return error
    known = None if original is None else database_condition(original)
    if known is not None:
        code, message = known
        if message == DATABASE_DOWN_MESSAGE:
            return database_down(error)
        return _with(error, message, {"code": code})
    if error.path is None:
        return _with(error, error.message, {**extensions, "code": "BAD_USER_INPUT"})
    masked = _with(
        error, internal_message(request_id), {"code": "INTERNAL", "requestId": request_id}
    )
    masked.__cause__ = original or error
    return masked


def database_condition(error: BaseException) -> tuple[str, str] | None:
    """(code, message) when ``error`` is the database's state rather than a fault: a
    statement stopped by its time limit (TIMEOUT), a write that waited too long for its
    account or a connection (SERVICE_UNAVAILABLE), a database that cannot be reached
    (SERVICE_UNAVAILABLE); None otherwise."""
    if is_statement_timeout(error):
        return "TIMEOUT", STATEMENT_TIMEOUT_MESSAGE
    if isinstance(error, AccountBusy):
        return "SERVICE_UNAVAILABLE", ACCOUNT_BUSY_MESSAGE
    if isinstance(error, PoolTimeout):
        return "SERVICE_UNAVAILABLE", POOL_BUSY_MESSAGE
    if is_unreachable(error):
        return "SERVICE_UNAVAILABLE", DATABASE_DOWN_MESSAGE
    return None


def database_down(error: GraphQLError) -> GraphQLError:
    """``SERVICE_UNAVAILABLE`` for a database that cannot be reached; ``is_database_down``
    recognises the result."""
    unavailable = _with(error, DATABASE_DOWN_MESSAGE, {"code": "SERVICE_UNAVAILABLE"})
    unavailable.__cause__ = error.original_error
    return unavailable


def is_database_down(error: GraphQLError) -> bool:
    return (error.extensions or {}).get("code") == "SERVICE_UNAVAILABLE" and (
        error.message == DATABASE_DOWN_MESSAGE
    )


def log_errors(
    errors: Iterable[GraphQLError], request_id: str | None, operation_name: str | None
) -> None:
    """One line per expected error; a traceback for each unexpected one."""
    for error in errors:
        code = (error.extensions or {}).get("code", "INTERNAL")
        path = ".".join(str(p) for p in error.path) if error.path else "-"
        if code == "INTERNAL":
            cause = error.__cause__
            log.error(
                "request %s operation %s path %s: INTERNAL",
                request_id,
                operation_name or "-",
                path,
                exc_info=(type(cause), cause, cause.__traceback__) if cause else None,
            )
        else:
            log.info(
                "request %s operation %s path %s: %s", request_id, operation_name or "-", path, code
            )
