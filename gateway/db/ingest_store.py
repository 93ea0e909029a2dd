"""The statements of the ingest path: load the rows a batch touches, write them back in bulk.

Writes are upserts in primary-key order, so concurrent batches on PostgreSQL take row locks in
the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import tables as t
from gateway.db.rows import insert_statement

Row = dict[str, Any]


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
    stmt = insert_statement(conn, h)
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
