"""The Relay Node interface and page plumbing shared by every connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from gateway.present.connection import Listing

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
    cls: type[Connection[Any]], listing: Listing, build: Callable[[Any], Any]
) -> Any:
    """A strawberry connection of ``listing``, its nodes built by ``build``."""
    info = listing.page_info()
    return cls(
        nodes=[build(row) for row in listing.rows],
        page_info=PageInfo(
            has_next_page=info.has_next_page,
            has_previous_page=info.has_previous_page,
            start_cursor=info.start_cursor,
            end_cursor=info.end_cursor,
        ),
        _cursors=listing.cursors(),
        _count=listing.count,
    )
