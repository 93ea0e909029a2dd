"""Work the server does on a schedule: starting task-limit periods that have ended, and
purging what retention no longer keeps."""

from __future__ import annotations

import asyncio
import logging

from gateway.actions import retention
from gateway.actions.service import start_new_periods
from gateway.config import Settings
from gateway.db.engine import Database, OutageLog

log = logging.getLogger("gateway.periodic")


async def run_period_sweeps(db: Database, every_seconds: float) -> None:
    """Forever: enable again what task limits paused once their period ends. Ingest does the
    same lazily for end-users it touches; this covers the quiet ones."""
    outage = OutageLog(log, "task-limit period sweep")
    while True:
        try:
            changes = await start_new_periods(db)
            outage.succeeded()
            if changes:
                log.info("new task-limit periods enabled %d integrations", len(changes))
        except Exception as error:  # the next sweep tries again
            if not outage.failed(error):
                log.exception("task-limit period sweep failed")
        await asyncio.sleep(every_seconds)


async def run_retention_sweeps(db: Database, settings: Settings) -> None:
    """Forever, every ``retention_sweep_seconds`` from the start: purge each account's data
    older than its retentionDays, in batches (see gateway.actions.retention)."""
    outage = OutageLog(log, "retention sweep")
    while True:
        try:
            await retention.sweep(
                db,
                default_days=settings.retention_days,
                batch_size=settings.purge_batch_size,
                pause_seconds=settings.purge_pause_seconds,
            )
            outage.succeeded()
        except Exception as error:  # the next sweep tries again; what a batch deleted stays
            if not outage.failed(error):
                log.exception("retention sweep failed")
        await asyncio.sleep(settings.retention_sweep_seconds)
