"""Retention: the statements that delete an account's data older than a cutoff, a bounded
batch at a time.

``PURGE_STEPS`` lists what a purge deletes, in order; each step deletes one batch per call
and says whether more is left, so the caller can give every batch a short transaction of its
own (reads go on beside it; writes of the account wait for one batch at most). A run that is
still ``RUNNING`` is never purged, whatever its age, nor are its steps and payloads.

Nothing derived is recomputed from what goes: tasks consumed (per integration, end-user and
flow), last run start and status, and the hourly buckets of flow statistics are counters
kept on ingest, so they read the same after a purge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import tables as t

Counts = dict[str, int]


class PurgeStep(Protocol):
    """One kind of data a purge deletes."""

    @property
    def tables(self) -> tuple[str, ...]:
        """What it counts, in summary order."""
        ...

    async def count(self, conn: AsyncConnection, account_id: str, cutoff: datetime) -> Counts:
        """What one purge at ``cutoff`` would delete, per table."""
        ...

    async def purge(
        self, conn: AsyncConnection, account_id: str, cutoff: datetime, limit: int, cursor: Any
    ) -> tuple[Counts, Any]:
        """Deletes one batch of at most ``limit`` rows of the step's main table (and what
        belongs to them); returns what it deleted and the cursor of the next batch, or
        ``None`` when nothing is left. The first call gets ``cursor=None``."""
        ...


_DONE = None


class RunsWithDetails:
    """Finished runs that started before the cutoff, with their steps and the steps' payloads,
    all of one batch in one transaction (a reader sees a run whole or not at all). Found in
    (start_time, run_id) order on the runs' (account_id, start_time, run_id) index; the cursor
    walks past the old runs still RUNNING rather than reading them again in every batch."""

    tables = ("runs", "steps", "payloads")

    @staticmethod
    def _old(account_id: str, cutoff: datetime) -> list[ColumnElement[bool]]:
        r = t.runs
        return [r.c.account_id == account_id, r.c.start_time < cutoff, r.c.status != "RUNNING"]

    def _steps_of(self, account_id: str, run_ids: Any) -> Any:
        s = t.steps
        return select(s.c.step_id).where(s.c.account_id == account_id, s.c.run_id.in_(run_ids))

    async def count(self, conn: AsyncConnection, account_id: str, cutoff: datetime) -> Counts:
        r, s, p = t.runs, t.steps, t.payloads
        old = select(r.c.run_id).where(*self._old(account_id, cutoff))
        runs = await conn.scalar(select(func.count()).select_from(old.subquery()))
        steps = await conn.scalar(
            select(func.count()).where(s.c.account_id == account_id, s.c.run_id.in_(old))
        )
        payloads = await conn.scalar(
            select(func.count()).where(
                p.c.account_id == account_id, p.c.step_id.in_(self._steps_of(account_id, old))
            )
        )
        return {"runs": int(runs or 0), "steps": int(steps or 0), "payloads": int(payloads or 0)}

    async def purge(
        self, conn: AsyncConnection, account_id: str, cutoff: datetime, limit: int, cursor: Any
    ) -> tuple[Counts, Any]:
        r, s, p = t.runs, t.steps, t.payloads
        where = self._old(account_id, cutoff)
        if cursor is not None:
            start, run_id = cursor
            where.append(
                or_(r.c.start_time > start, and_(r.c.start_time == start, r.c.run_id > run_id))
            )
        found = (
            await conn.execute(
                select(r.c.start_time, r.c.run_id)
                .where(*where)
                .order_by(r.c.start_time, r.c.run_id)
                .limit(limit)
            )
        ).all()
        if not found:
            return {"runs": 0, "steps": 0, "payloads": 0}, _DONE
        ids = [row.run_id for row in found]
        payloads = await conn.execute(
            delete(p).where(
                p.c.account_id == account_id, p.c.step_id.in_(self._steps_of(account_id, ids))
            )
        )
        steps = await conn.execute(
            delete(s).where(s.c.account_id == account_id, s.c.run_id.in_(ids))
        )
        runs = await conn.execute(
            delete(r).where(r.c.account_id == account_id, r.c.run_id.in_(ids))
        )
        counts = {"runs": runs.rowcount, "steps": steps.rowcount, "payloads": payloads.rowcount}
        last = found[-1]
        return counts, (_DONE if len(found) < limit else (last.start_time, last.run_id))


@dataclass(frozen=True)
class AgedRows:
    """Rows of ``table`` whose ``at`` column is before the cutoff, by a key unique in the
    account; ``only`` narrows them (a delivery kept until it is delivered, say)."""

    table: Table
    at: str
    key: str
    only: Callable[[Table], ColumnElement[bool]] | None = None

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table.name,)

    def _old(self, account_id: str, cutoff: datetime) -> list[ColumnElement[bool]]:
        c = self.table.c
        where = [c.account_id == account_id, c[self.at] < cutoff]
        if self.only is not None:
            where.append(self.only(self.table))
        return where

    async def count(self, conn: AsyncConnection, account_id: str, cutoff: datetime) -> Counts:
        n = await conn.scalar(select(func.count()).where(*self._old(account_id, cutoff)))
        return {self.table.name: int(n or 0)}

    async def purge(
        self, conn: AsyncConnection, account_id: str, cutoff: datetime, limit: int, cursor: Any
    ) -> tuple[Counts, Any]:
        c = self.table.c
        batch = (
            select(c[self.key])
            .where(*self._old(account_id, cutoff))
            .order_by(c[self.at])
            .limit(limit)
        )
        result = await conn.execute(
            delete(self.table).where(c.account_id == account_id, c[self.key].in_(batch))
        )
        deleted = result.rowcount
        # Everything found is deleted, so the next batch starts over: no cursor to keep.
        return {self.table.name: deleted}, (_DONE if deleted < limit else True)


def _last_seq(log: Table) -> Any:
    newest = log.alias("newest")
    return (
        select(func.max(newest.c.seq))
        .where(newest.c.account_id == log.c.account_id)
        .scalar_subquery()
    )


# What a purge deletes, in this order. Another table with an age joins here (delivered
# notifications: AgedRows(their table, their delivery time, their key, only=delivered)).
PURGE_STEPS: tuple[PurgeStep, ...] = (
    RunsWithDetails(),
    AgedRows(t.integration_status_changes, "at", "change_id"),
    # The account's last change stays whatever its age: the next one is numbered after it,
    # so numbering never starts over under open subscriptions and cursors.
    AgedRows(t.change_log, "at", "seq", only=lambda log: log.c.seq < _last_seq(log)),
)

PURGED_TABLES: tuple[str, ...] = tuple(name for step in PURGE_STEPS for name in step.tables)


async def retention_days(
    conn: AsyncConnection, account_ids: list[str] | None
) -> dict[str, int | None]:
    """Each account's ``retention_days`` (None: the default setting applies)."""
    a = t.accounts
    stmt = select(a.c.account_id, a.c.retention_days).order_by(a.c.account_id)
    if account_ids is not None:
        stmt = stmt.where(a.c.account_id.in_(account_ids))
    return {row.account_id: row.retention_days for row in await conn.execute(stmt)}
