"""Retention: which accounts' data is old enough to go, and purging it batch by batch.

Used by ``gateway purge`` and by the server's periodic sweep. Each batch is a transaction of
its own through ``Database.transaction`` (serialised with the account's other writes on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so no lock is held longer than one batch and reads
keep working throughout. A purge records no change of status: subscribers hear nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.db import purge as statements
from gateway.db.engine import Database
from gateway.db.purge import PURGE_STEPS, PURGED_TABLES, Counts

log = logging.getLogger("gateway.retention")


class UnknownAccount(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    """Purge the account's data older than ``cutoff``."""

    account_id: str
    cutoff: datetime


def no_counts() -> Counts:
    return dict.fromkeys(PURGED_TABLES, 0)


def add(total: Counts, counts: Counts) -> None:
    for table, n in counts.items():
        total[table] = total.get(table, 0) + n


def describe(counts: Counts) -> str:
    """``1,200 runs, 4,800 steps, …``: every purged table, in purge order."""
    return ", ".join(f"{counts.get(table, 0):,} {table}" for table in PURGED_TABLES)


async def targets(
    db: Database,
    *,
    default_days: int,
    older_than: timedelta | None = None,
    account_id: str | None = None,
    now: datetime | None = None,
) -> list[Target]:
    """What to purge: everything older than ``older_than`` when given, else each account's
    own ``retentionDays`` (unset: ``default_days``; 0 keeps everything). ``account_id``
    narrows it to one account, which must exist."""
    now = now or datetime.now(UTC)
    async with db.read() as conn:
        days = await statements.retention_days(conn, None if account_id is None else [account_id])
    if account_id is not None and account_id not in days:
        raise UnknownAccount(f"no account {account_id!r}")
    out = []
    for account, own in days.items():
        if older_than is not None:
            out.append(Target(account, now - older_than))
            continue
        keep = default_days if own is None else own
        if keep > 0:
            out.append(Target(account, now - timedelta(days=keep)))
    return out


async def count(db: Database, chosen: list[Target]) -> Counts:
    """What ``purge`` would delete now, per table."""
    total = no_counts()
    async with db.read() as conn:
        for target in chosen:
            for step in PURGE_STEPS:
                add(total, await step.count(conn, target.account_id, target.cutoff))
    return total


async def purge(
    db: Database,
    chosen: list[Target],
    *,
    batch_size: int,
    pause_seconds: float = 0.0,
    on_batch: Callable[[Counts], None] | None = None,
) -> Counts:
    """Deletes what is older than each target's cutoff, ``batch_size`` rows of a step's main
    table (a run with its steps and payloads) per transaction, pausing ``pause_seconds``
    between batches so the account's ingest gets its turn."""
    total = no_counts()
    for target in chosen:
        mine = no_counts()
        for step in PURGE_STEPS:
            cursor = None
            while True:
                async with db.transaction(target.account_id) as conn:
                    counts, cursor = await step.purge(
                        conn, target.account_id, target.cutoff, batch_size, cursor
                    )
                add(mine, counts)
                if on_batch is not None:
                    on_batch(counts)
                if cursor is None:
                    break
                await asyncio.sleep(pause_seconds)
        if any(mine.values()):
            log.info(
                "account %s: purged what is older than %s: %s",
                target.account_id,
                f"{target.cutoff:%Y-%m-%dT%H:%M:%SZ}",
                describe(mine),
            )
        add(total, mine)
    return total


async def sweep(
    db: Database, *, default_days: int, batch_size: int, pause_seconds: float = 0.0
) -> Counts:
    """One pass of the server's retention: every account, by its own retentionDays."""
    chosen = await targets(db, default_days=default_days)
    return await purge(db, chosen, batch_size=batch_size, pause_seconds=pause_seconds)
