"""Loads generated events through the real ingest path (the ingestEvents mutation)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gateway.auth.keys import Principal, create_key
from gateway.config import Settings
from gateway.context import make_context
from gateway.db import accounts, reads
from gateway.db.pages import Window
from gateway.db.queries import FlowQuery
from gateway.seed.events import batched
from gateway.services import Services

MUTATION = """
mutation Seed($events: [IngestEvent!]!) {
  ingestEvents(events: $events) { accepted duplicates rejected { index code message } }
}
"""


# Statistics refreshed while a large dataset loads keep the ingest's key lookups on indexes.
ANALYZE_EVERY_BATCHES = 50


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self.total, self.enabled, self.label = total, enabled, label
        self.done = 0
        self.started = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / max(time.monotonic() - self.started, 1e-9)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} events, {rate:,.0f}/s"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


async def ingest_all(
    services: Services, account_id: str, events: Iterable[dict[str, Any]], progress: Progress
) -> dict[str, int]:
    from gateway.schema import schema

    principal = Principal(account_id, "INGEST", "seed", "seed")
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    for number, batch in enumerate(batched(events, 1000), start=1):
        if number % ANALYZE_EVERY_BATCHES == 0:
            await services.db.analyze()
        ctx = make_context(services, principal, "seed")
        result = await schema.execute(MUTATION, {"events": batch}, context_value=ctx)
        if result.errors:
            raise RuntimeError(f"seeding failed: {result.errors[0].message}")
        assert result.data is not None
        answer = result.data["ingestEvents"]
        totals["accepted"] += answer["accepted"]
        totals["duplicates"] += answer["duplicates"]
        totals["rejected"] += len(answer["rejected"])
        if answer["rejected"]:
            first = answer["rejected"][0]
            raise RuntimeError(f"seed event rejected: {first['code']}: {first['message']}")
        progress.advance(len(batch))
    await services.db.analyze()
    progress.close()
    return totals


async def seed_demo(settings: Settings, account_id: str = "demo", *, progress: bool = True) -> None:
    from gateway.seed.demo import demo_events

    services = Services.from_settings(settings)
    try:
        async with services.db.write() as conn:
            await accounts.ensure_account(conn, account_id, "Demo Software Inc.")
        events = demo_events(datetime.now(UTC))
        await ingest_all(
            services, account_id, events, Progress(len(events), progress, f"seeding {account_id}")
        )
    finally:
        await services.close()


async def seed_synthetic(
    settings: Settings, account_id: str, runs: int, *, progress: bool = True
) -> None:
    from gateway.seed.synthetic import synthetic_event_count, synthetic_events

    services = Services.from_settings(settings)
    try:
        async with services.db.write() as conn:
            await accounts.ensure_account(conn, account_id)
        await ingest_all(
            services,
            account_id,
            synthetic_events(runs),
            Progress(synthetic_event_count(runs), progress, f"seeding {account_id}"),
        )
    finally:
        await services.close()


async def ensure_demo(settings: Settings) -> str:
    """Seeds the demo account the first time, and returns a new admin key for it."""
    services = Services.from_settings(settings)
    try:
        async with services.db.read() as conn:
            page = await reads.flow_page(conn, "demo", FlowQuery(), Window(1))
    finally:
        await services.close()
    if not page.rows:
        await seed_demo(settings, "demo")
    services = Services.from_settings(settings)
    try:
        return await create_key(services.db, "demo", "admin", "demo admin")
    finally:
        await services.close()
