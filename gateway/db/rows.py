"""Rows by primary key: load many, write many (upserts in primary-key order, so concurrent
writers on PostgreSQL take row locks in one order and cannot deadlock). Shared by ingest and
the integration actions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import tables as t

Row = dict[str, Any]

TABLES: dict[str, Table] = {
    "apps": t.apps,
    "flows": t.flows,
    "integrations": t.integrations,
    "runs": t.runs,
    "steps": t.steps,
    "payloads": t.payloads,
    "early_finishes": t.early_run_finishes,
    "end_users": t.end_users,
}


def insert_statement(conn: AsyncConnection, table: Table) -> Any:
    module = sqlite if conn.dialect.name == "sqlite" else postgresql
    return module.insert(table)


def _key(table: Table) -> str:
    return next(c.name for c in table.primary_key.columns if c.name != "account_id")


async def load_where_in(
    conn: AsyncConnection, table_name: str, account_id: str, column: str, values: Iterable[str]
) -> dict[str, Row]:
    """The account's rows whose ``column`` is one of ``values``, by primary key."""
    table = TABLES[table_name]
    wanted = sorted(set(values))
    if not wanted:
        return {}
    key = _key(table)
    result = await conn.execute(
        select(table).where(table.c.account_id == account_id, table.c[column].in_(wanted))
    )
    return {getattr(row, key): dict(row._mapping) for row in result}


async def load_by_key(
    conn: AsyncConnection, table_name: str, account_id: str, keys: Iterable[str]
) -> dict[str, Row]:
    return await load_where_in(conn, table_name, account_id, _key(TABLES[table_name]), keys)


async def load_integrations_of_users(
    conn: AsyncConnection, account_id: str, user_ids: Iterable[str]
) -> dict[str, Row]:
    return await load_where_in(conn, "integrations", account_id, "user_id", user_ids)


async def insert_history(conn: AsyncConnection, rows: list[Row]) -> None:
    if rows:
        await conn.execute(t.integration_status_changes.insert(), rows)


async def upsert(conn: AsyncConnection, table_name: str, rows: list[Row]) -> None:
    if not rows:
        return
    table = TABLES[table_name]
    stmt = insert_statement(conn, table)
    keys = [c.name for c in table.primary_key.columns]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    await conn.execute(stmt, rows)


async def end_users_with_ended_periods(conn: AsyncConnection, now: Any) -> list[tuple[str, str]]:
    """(account, user) of every limit whose period has ended, across accounts."""
    e = t.end_users
    result = await conn.execute(
        select(e.c.account_id, e.c.user_id)
        .where(e.c.period_end <= now)
        .order_by(e.c.account_id, e.c.user_id)
    )
    return [(row[0], row[1]) for row in result]
