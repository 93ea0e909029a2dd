"""The Relay Node interface and page plumbing shared by every connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from gateway.cursors import encode_cursor
from gateway.db.pages import Order, PageRows

T = TypeVar("T")


@strawberry.interface(description="An object with a global ID, fetchable with node(id:).")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    nodes: list[T]
    page_info: PageInfo
    _cursors: strawberry.Private[list[str]]
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    def edges(self) -> list[Edge[T]]:
        return [Edge(cursor=c, node=n) for c, n in zip(self._cursors, self.nodes, strict=True)]

    @strawberry.field(description="Matches of the filter and search, whatever the page.")
    async def total_count(self) -> int:
        return await self._count()


def make_connection(
    cls: type[Connection[Any]],
    page: PageRows,
    order: Order,
    id_column: str,
    build: Callable[[Any], Any],
    count: Callable[[], Awaitable[int]],
) -> Any:
    cursors = [
        encode_cursor(order.name, getattr(row, order.column), getattr(row, id_column))
        for row in page.rows
    ]
    return cls(
        nodes=[build(row) for row in page.rows],
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        _cursors=cursors,
        _count=count,
    )
