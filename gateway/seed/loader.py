"""Loads generated events through the real ingest path (the ingestEvents mutation)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

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
    """Progress of a load, on stderr (or ``stream``).

    On a terminal, one bar redrawn in place with ``\\r``. Anywhere else (a pipe, a log file,
    CI) a plain line at every tenth of the work, and at least every ``PLAIN_EVERY_SECONDS``
    while a slow load crawls, so logs stay readable line by line.
    """

    PLAIN_EVERY_SECONDS = 5.0

    def __init__(
        self,
        total: int,
        enabled: bool,
        label: str,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.enabled, self.label = total, enabled, label
        self.stream = stream or sys.stderr
        self.clock = clock
        self.terminal = _is_terminal(self.stream)
        self.done = 0
        self.started = self.last_line = clock()
        self.last_tenth = 0

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
        rate = self.done / max(now - self.started, 1e-9)
        if self.terminal:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.stream.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done}/{self.total} events, {rate:,.0f}/s"
            )
            self.stream.flush()
            return
        tenth = 10 * self.done // max(self.total, 1)
        if tenth > self.last_tenth or now - self.last_line >= self.PLAIN_EVERY_SECONDS:
            self.last_tenth, self.last_line = tenth, now
            percent = min(100, 100 * self.done // max(self.total, 1))
            self.stream.write(
                f"{self.label}: {percent:3d}% ({self.done:,}/{self.total:,} events, "
                f"{rate:,.0f}/s)\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.terminal:
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


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
