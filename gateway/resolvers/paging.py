"""Connection arguments (first/after/last/before) to a keyset Window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.cursors import decode_cursor
from gateway.db.pages import Order, Window
from gateway.errors import BadUserInput
from gateway.limits import DEFAULT_PAGE, MAX_PAGE


def window(
    order: Order,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Window:
    if first is not None and last is not None:
        raise BadUserInput('Pass either "first" or "last", not both.')
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 1 <= value <= MAX_PAGE:
            raise BadUserInput(f'"{name}" must be between 1 and {MAX_PAGE}, got {value}.')
    after_mark = _mark(order, after)
    before_mark = _mark(order, before)
    if last is not None or (first is None and before is not None and after is None):
        return Window(last or DEFAULT_PAGE, forward=False, after=after_mark, before=before_mark)
    return Window(first or DEFAULT_PAGE, forward=True, after=after_mark, before=before_mark)


def _mark(order: Order, cursor: str | None) -> tuple[Any, str] | None:
    """The (sort value, id) of a cursor of ``order``, its value of the order's type."""
    if not cursor:
        return None
    value, key = decode_cursor(cursor, order.name)
    if value is None:
        valid = order.nullable
    elif order.kind == "datetime":
        valid = isinstance(value, datetime)
    else:
        valid = isinstance(value, int) and not isinstance(value, bool)
    if not valid:
        raise BadUserInput(f"{cursor[:200]!r} is not a valid cursor.")
    return value, key
