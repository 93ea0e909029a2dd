"""DateTime as RFC 3339 in UTC with ``Z`` and milliseconds; inputs must carry an offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NewType

import strawberry
from strawberry.scalars import JSON


def serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an RFC 3339 string.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time.") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no offset: add Z or +hh:mm.")
    return parsed.astimezone(UTC)


DateTime = NewType("DateTime", datetime)

DATETIME_SCALAR = strawberry.scalar(
    name="DateTime",
    description="An RFC 3339 date-time. Output in UTC with milliseconds and Z; input needs an "
    "offset.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)

__all__ = ["DATETIME_SCALAR", "JSON", "DateTime", "parse_datetime", "serialize_datetime"]
