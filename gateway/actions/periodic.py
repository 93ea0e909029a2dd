"""Work the server does on a schedule: starting task-limit periods that have ended."""

from __future__ import annotations

import asyncio
import logging

from gateway.actions.service import start_new_periods
from gateway.db.engine import Database

log = logging.getLogger("gateway.periodic")


async def run_period_sweeps(db: Database, every_seconds: float) -> None:
    """Forever: enable again what task limits paused once their period ends. Ingest does the
    same lazily for end-users it touches; this covers the quiet ones."""
    while True:
        try:
            changes = await start_new_periods(db)
            if changes:
                log.info("new task-limit periods enabled %d integrations", len(changes))
        except Exception:  # the next sweep tries again
            log.exception("task-limit period sweep failed")
        await asyncio.sleep(every_seconds)
