"""The statements of the ingest path: load the rows a batch touches, write them back in bulk.

Writes are upserts in primary-key order, so concurrent batches on PostgreSQL take row locks in
the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select
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
}


def _insert(conn: AsyncConnection, table: Table) -> Any:
    module = sqlite if conn.dialect.name == "sqlite" else postgresql
    return module.insert(table)


async def existing_receipts(
    conn: AsyncConnection, account_id: str, event_ids: Sequence[str]
) -> set[str]:
    if not event_ids:
        return set()
    r = t.ingest_receipts
    rows = await conn.execute(
        select(r.c.event_id).where(r.c.account_id == account_id, r.c.event_id.in_(event_ids))
    )
    return {row[0] for row in rows}


async def load_by_key(
    conn: AsyncConnection, table_name: str, account_id: str, keys: Iterable[str]
) -> dict[str, Row]:
    table = TABLES[table_name]
    keys = sorted(set(keys))
    if not keys:
        return {}
    key_col = next(c for c in table.primary_key.columns if c.name != "account_id")
    rows = await conn.execute(
        select(table).where(table.c.account_id == account_id, key_col.in_(keys))
    )
    return {getattr(row, key_col.name): dict(row._mapping) for row in rows}


async def load_steps_of_runs(
    conn: AsyncConnection, account_id: str, run_ids: Iterable[str]
) -> dict[str, Row]:
    run_ids = sorted(set(run_ids))
    if not run_ids:
        return {}
    s = t.steps
    rows = await conn.execute(
        select(s).where(s.c.account_id == account_id, s.c.run_id.in_(run_ids))
    )
    return {row.step_id: dict(row._mapping) for row in rows}


async def upsert(conn: AsyncConnection, table_name: str, rows: list[Row]) -> None:
    if not rows:
        return
    table = TABLES[table_name]
    stmt = _insert(conn, table)
    keys = [c.name for c in table.primary_key.columns]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    await conn.execute(stmt, rows)


async def add_flow_hours(
    conn: AsyncConnection, account_id: str, hours: dict[tuple[str, datetime], list[int]]
) -> None:
    rows = [
        {
            "account_id": account_id,
            "flow_id": flow_id,
            "hour": hour,
            "runs": runs,
            "failed_runs": failed,
            "tasks": tasks,
        }
        for (flow_id, hour), (runs, failed, tasks) in sorted(hours.items())
        if runs or failed or tasks
    ]
    if not rows:
        return
    h = t.flow_hours
    stmt = _insert(conn, h)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "flow_id", "hour"],
        set_={
            "runs": h.c.runs + stmt.excluded.runs,
            "failed_runs": h.c.failed_runs + stmt.excluded.failed_runs,
            "tasks": h.c.tasks + stmt.excluded.tasks,
        },
    )
    await conn.execute(stmt, rows)


async def delete_early_finishes(
    conn: AsyncConnection, account_id: str, run_ids: Iterable[str]
) -> None:
    run_ids = sorted(run_ids)
    if run_ids:
        e = t.early_run_finishes
        await conn.execute(delete(e).where(e.c.account_id == account_id, e.c.run_id.in_(run_ids)))


async def insert_receipts(
    conn: AsyncConnection, account_id: str, event_ids: Sequence[str], at: datetime
) -> None:
    if event_ids:
        await conn.execute(
            t.ingest_receipts.insert(),
            [
                {"account_id": account_id, "event_id": e, "received_at": at}
                for e in sorted(event_ids)
            ],
        )
