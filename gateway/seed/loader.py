"""Loads generated events through the real ingest path (the ingestEvents mutation)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gateway.auth.keys import Principal, create_key
from gateway.config import Settings
from gateway.context import make_context
from gateway.db import accounts, reads
from gateway.db.pages import Window
from gateway.db.queries import FlowQuery
from gateway.progress import Progress
from gateway.seed.events import batched
from gateway.services import Services

MUTATION = """
mutation Seed($events: [IngestEvent!]!) {
  ingestEvents(events: $events) { accepted duplicates rejected { index code message } }
}
"""


# Statistics refreshed while a large dataset loads keep the ingest's key lookups on indexes.
ANALYZE_EVERY_BATCHES = 50


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
        async with services.db.transaction() as conn:
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
        async with services.db.transaction() as conn:
            await accounts.ensure_account(conn, account_id)
        await ingest_all(
            services,
            account_id,
            synthetic_events(runs),
            Progress(synthetic_event_count(runs), progress, f"seeding {account_id}"),
        )
    finally:
        await services.close()


DEMO_ACCOUNT = "demo"
DEMO_KEY_NAME = "demo admin"


# The demo key drives the console, whose screens re-read (at most once a second) while the
# simulated runs change: more than a partner's default budget of an hour.
DEMO_POINTS_PER_HOUR = 100_000


async def ensure_demo(settings: Settings) -> str:
    """Seeds the demo account the first time; returns a new admin key for it and revokes every
    earlier active key named ``demo admin`` of that account, so one demo key is live at a time.

    The new key is made before the old ones are revoked: an interrupted start leaves one key
    too many (revoked by the next start), never none.
    """
    services = Services.from_settings(settings)
    try:
        async with services.db.read() as conn:
            page = await reads.flow_page(conn, DEMO_ACCOUNT, FlowQuery(), Window(1))
    finally:
        await services.close()
    if not page.rows:
        await seed_demo(settings, DEMO_ACCOUNT)
    services = Services.from_settings(settings)
    try:
        key = await create_key(
            services.db, DEMO_ACCOUNT, "admin", DEMO_KEY_NAME, points_per_hour=DEMO_POINTS_PER_HOUR
        )
        key_id = key.split("_")[1]
        async with services.db.transaction() as conn:
            for row in await accounts.list_keys(conn, DEMO_ACCOUNT):
                if row.name == DEMO_KEY_NAME and row.revoked_at is None and row.key_id != key_id:
                    await accounts.revoke_key(conn, row.key_id)
        return key
    finally:
        await services.close()
