"""The change log: every committed change of status, numbered per account in commit order.

Writes of one account are serialised (SQLite has one writer; PostgreSQL takes the account's
advisory lock in ``Database.write``), so the next ``seq`` is the last one plus one and seq order
is commit order. A subscriber resumes from a cursor by reading the changes after its ``seq``.
The log keeps the most recent ``KEEP`` changes per account; older ones are pruned as it grows.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.tables import change_log
from gateway.live.changes import Change

KEEP = 10_000
_PRUNE_EVERY = 1_000
_COLUMNS = (
    "kind",
    "object_id",
    "status",
    "previous",
    "reason",
    "at",
    "flow_id",
    "integration_id",
    "run_id",
)


async def last_seq(conn: AsyncConnection, account_id: str) -> int:
    value = await conn.scalar(
        select(func.max(change_log.c.seq)).where(change_log.c.account_id == account_id)
    )
    return int(value or 0)


async def first_seq(conn: AsyncConnection, account_id: str) -> int:
    value = await conn.scalar(
        select(func.min(change_log.c.seq)).where(change_log.c.account_id == account_id)
    )
    return int(value or 0)


async def append(
    conn: AsyncConnection, account_id: str, changes: Sequence[Change]
) -> list[Change]:
    """Numbers and stores ``changes`` (all of ``account_id``); returns them with their seq."""
    if not changes:
        return []
    start = await last_seq(conn, account_id)
    numbered = [change.with_seq(start + i) for i, change in enumerate(changes, 1)]
    await conn.execute(
        insert(change_log),
        [
            {"account_id": account_id, "seq": c.seq, **{k: getattr(c, k) for k in _COLUMNS}}
            for c in numbered
        ],
    )
    end = start + len(numbered)
    if end // _PRUNE_EVERY != start // _PRUNE_EVERY and end > KEEP:
        await conn.execute(
            delete(change_log).where(
                change_log.c.account_id == account_id, change_log.c.seq <= end - KEEP
            )
        )
    return numbered


async def after(
    conn: AsyncConnection, account_id: str, seq: int, limit: int
) -> list[Change]:
    """Up to ``limit`` changes of the account after ``seq``, in order."""
    result = await conn.execute(
        select(change_log)
        .where(change_log.c.account_id == account_id, change_log.c.seq > seq)
        .order_by(change_log.c.seq)
        .limit(limit)
    )
    return [
        Change(
            account_id=row.account_id,
            seq=row.seq,
            **{k: getattr(row, k) for k in _COLUMNS},
        )
        for row in result
    ]
