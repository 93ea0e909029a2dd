"""Connection arguments (first/after/last/before) to a keyset Window."""

from __future__ import annotations

from gateway.cursors import decode_cursor
from gateway.db.pages import Order, Window
from gateway.errors import BadUserInput

DEFAULT_PAGE = 10
MAX_PAGE = 100


def window(
    order: Order, first: int | None = None, after: str | None = None, last: int | None = None,
    before: str | None = None,
) -> Window:
    if first is not None and last is not None:
        raise BadUserInput('Pass either "first" or "last", not both.')
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 1 <= value <= MAX_PAGE:
            raise BadUserInput(f'"{name}" must be between 1 and {MAX_PAGE}, got {value}.')
    after_mark = decode_cursor(after, order.name) if after else None
    before_mark = decode_cursor(before, order.name) if before else None
    if last is not None or (first is None and before is not None and after is None):
        return Window(last or DEFAULT_PAGE, forward=False, after=after_mark, before=before_mark)
    return Window(first or DEFAULT_PAGE, forward=True, after=after_mark, before=before_mark)
