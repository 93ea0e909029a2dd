"""A page of rows as a Relay connection: cursors, page info, the total count on demand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.cursors import encode_cursor
from gateway.db.pages import Order, PageRows


@dataclass(slots=True)
class Listing:
    """One connection's page, its order (which its cursors carry) and its count, asked for
    only when a client selects ``totalCount``."""

    page: PageRows
    order: Order
    id_column: str
    count: Callable[[], Awaitable[int]]
    _cursors: list[str] | None = None

    @property
    def rows(self) -> list[Any]:
        return self.page.rows

    def cursors(self) -> list[str]:
        if self._cursors is None:
            column, id_column, name = self.order.column, self.id_column, self.order.name
            self._cursors = [
                encode_cursor(name, getattr(row, column), getattr(row, id_column))
                for row in self.page.rows
            ]
        return self._cursors

    def page_info(self) -> PageInfoValues:
        cursors = self.cursors()
        return PageInfoValues(
            has_next_page=self.page.has_next,
            has_previous_page=self.page.has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )

    def edges(self) -> list[tuple[str, Any]]:
        return list(zip(self.cursors(), self.page.rows, strict=True))


@dataclass(frozen=True, slots=True)
class PageInfoValues:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None
