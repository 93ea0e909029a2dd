"""Keyset pages, for one parent or for many parents in one statement.

A page is the rows strictly after (or before) a cursor in a fixed order: (nulls last, sort
column, id), every key in the order's direction. Many parents' pages come from one statement:
``LATERAL ... LIMIT`` on PostgreSQL, a correlated ``IN (... LIMIT)`` over ``json_each`` on
SQLite (a window function would read every row of every parent to return ten).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join


@dataclass(frozen=True, slots=True)
class Order:
    """A sort order of one list: the name its cursors carry, the column and the direction.

    ``kind`` is the type of the sort values ("datetime" or "int"), so a forged cursor can be
    refused before it reaches SQL."""

    name: str
    column: str
    descending: bool
    nullable: bool = False
    kind: str = "datetime"


@dataclass(frozen=True, slots=True)
class Window:
    """Which slice of the order to fetch. ``after``/``before`` are (sort value, id) pairs."""

    size: int
    forward: bool = True
    after: tuple[Any, str] | None = None
    before: tuple[Any, str] | None = None


@dataclass(slots=True)
class PageRows:
    rows: list[Any]
    has_next: bool
    has_previous: bool


def _keys(table: Table, id_column: str, order: Order, forward: bool) -> list[tuple[Any, bool]]:
    """(expression, ascending) pairs of the fetch order: the presented order, or its reverse."""
    column = table.c[order.column]
    asc = order.descending != forward
    keys: list[tuple[Any, bool]] = []
    if order.nullable:
        # Nulls last in the presented order, so first when fetching backwards.
        keys.append((case((column.is_(None), 1), else_=0), forward))
    keys.append((column, asc))
    keys.append((table.c[id_column], asc))
    return keys


def _beyond(
    keys: list[tuple[Any, bool]], order: Order, mark: tuple[Any, str]
) -> ColumnElement[bool]:
    """Rows strictly past ``mark`` in the order given by ``keys``."""
    value, key_id = mark
    values: list[Any] = [1 if value is None else 0] if order.nullable else []
    values += [value, key_id]
    clauses = []
    equal_so_far: list[ColumnElement[bool]] = []
    for (expr, asc), v in zip(keys, values, strict=True):
        if v is None:
            # Only the sort column can be null: every row with the null flag set has a null
            # value, so "equal" holds for them and "beyond" cannot.
            continue
        clauses.append(and_(*equal_so_far, expr > v if asc else expr < v))
        equal_so_far.append(expr == v)
    return or_(*clauses) if clauses else false()


def _page_statement(
    table: Table,
    id_column: str,
    conditions: Sequence[ColumnElement[bool]],
    order: Order,
    window: Window,
    columns: Sequence[Any],
) -> Select[Any]:
    where = list(conditions)
    if window.after is not None:
        where.append(_beyond(_keys(table, id_column, order, forward=True), order, window.after))
    if window.before is not None:
        where.append(_beyond(_keys(table, id_column, order, forward=False), order, window.before))
    keys = _keys(table, id_column, order, forward=window.forward)
    return (
        select(*columns)
        .where(*where)
        .order_by(*(expr.asc() if asc else expr.desc() for expr, asc in keys))
        .limit(window.size + 1)
    )


def _shape(rows: list[Any], window: Window) -> PageRows:
    more = len(rows) > window.size
    rows = rows[: window.size]
    if window.forward:
        return PageRows(rows, has_next=more, has_previous=window.after is not None)
    rows.reverse()
    return PageRows(rows, has_next=window.before is not None, has_previous=more)


async def fetch_page(
    conn: AsyncConnection,
    table: Table,
    id_column: str,
    conditions: Sequence[ColumnElement[bool]],
    order: Order,
    window: Window,
) -> PageRows:
    stmt = _page_statement(table, id_column, conditions, order, window, [table])
    rows = list(await conn.execute(stmt))
    return _shape(rows, window)


def _parents_source(conn: AsyncConnection, parent_ids: Sequence[str]) -> Any:
    if conn.dialect.name == "sqlite":
        return func.json_each(json.dumps(list(parent_ids))).table_valued("value").alias("parent")
    ids = bindparam("parent_ids", list(parent_ids), type_=ARRAY(String))
    return func.unnest(ids).table_valued("value").render_derived("parent")


class CrossJoin(Join):
    """SQLite keeps the written order of a CROSS JOIN: the parents drive, and each parent's
    rows come through the (account, parent, …) index. A plain join let the planner scan the
    whole account's rows and probe the parents for each."""

    inherit_cache = True


@compiles(CrossJoin, "sqlite")
def _compile_cross_join(join: CrossJoin, compiler: Any, **kw: Any) -> str:
    kw["asfrom"] = True
    linter = kw.get("from_linter")
    if linter is not None:
        # Joined on purpose, as visit_join would record it: not a cartesian product.
        linter.edges.update(itertools.product(join.left._from_objects, join.right._from_objects))
    return f"{compiler.process(join.left, **kw)} CROSS JOIN {compiler.process(join.right, **kw)}"


async def fetch_pages(
    conn: AsyncConnection,
    table: Table,
    id_column: str,
    parent_column: str,
    parent_ids: Sequence[str],
    conditions: Sequence[ColumnElement[bool]],
    order: Order,
    window: Window,
) -> dict[str, PageRows]:
    """The same page of every parent, in one statement."""
    if not parent_ids:
        return {}
    parent = _parents_source(conn, parent_ids)
    scoped = [*conditions, table.c[parent_column] == parent.c.value]
    if conn.dialect.name == "sqlite":
        inner = _page_statement(table, id_column, scoped, order, window, [table.c[id_column]])
        stmt = (
            select(parent.c.value.label("parent_key"), table)
            .select_from(CrossJoin(parent, table, true()))
            .where(*scoped, table.c[id_column].in_(inner.correlate(parent)))
        )
    else:
        lateral = _page_statement(table, id_column, scoped, order, window, [table]).lateral()
        stmt = select(parent.c.value.label("parent_key"), lateral).select_from(
            parent.join(lateral, true())
        )
    grouped: dict[str, list[Any]] = {pid: [] for pid in parent_ids}
    for row in await conn.execute(stmt):
        grouped[row[0]].append(row)
    return {
        pid: _shape(_in_fetch_order(rows, id_column, order, window.forward), window)
        for pid, rows in grouped.items()
    }


def _in_fetch_order(rows: list[Any], id_column: str, order: Order, forward: bool) -> list[Any]:
    """One parent's rows in fetch order, which the outer statement does not keep."""
    descending = order.descending == forward
    rows.sort(key=lambda r: getattr(r, id_column), reverse=descending)
    rows.sort(key=lambda r: _nulls_apart(getattr(r, order.column)), reverse=descending)
    if order.nullable:
        rows.sort(key=lambda r: getattr(r, order.column) is None, reverse=not forward)
    return rows


def _nulls_apart(value: Any) -> tuple[bool, Any]:
    return (True, 0) if value is None else (False, value)


async def count_by_parent(
    conn: AsyncConnection,
    table: Table,
    parent_column: str | None,
    parent_ids: Sequence[str],
    conditions: Sequence[ColumnElement[bool]],
) -> dict[str | None, int]:
    if parent_column is None:
        total = await conn.scalar(select(func.count()).select_from(table).where(*conditions))
        return {None: int(total or 0)}
    parent = table.c[parent_column]
    rows = await conn.execute(
        select(parent, func.count())
        .where(*conditions, parent.in_(list(parent_ids)))
        .group_by(parent)
    )
    counts: dict[str | None, int] = dict.fromkeys(parent_ids, 0)
    counts.update({row[0]: int(row[1]) for row in rows})
    return counts
