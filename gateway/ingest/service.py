"""One ingest batch: deduplicate, load what it touches, apply in memory, write in bulk.

The statement count is fixed per batch (about fifteen), whatever its size: 1,000 events cost the
same handful of round trips as ten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import accounts, rows
from gateway.db import ingest_store as store
from gateway.db.engine import Database
from gateway.ingest.apply import Applier, StatusChange
from gateway.ingest.events import Event, EventError, check_event
from gateway.ingest.redaction import Redactor
from gateway.ingest.state import BatchState

MAX_BATCH = 1000
DEFAULT_AUTO_PAUSE_AFTER = 10


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    event_id: str | None
    code: str
    message: str


@dataclass
class IngestOutcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)


class BatchTooLarge(ValueError):
    pass


async def ingest(
    db: Database,
    account_id: str,
    events: list[Event],
    *,
    redactor: Redactor,
    body_limit: int,
) -> IngestOutcome:
    if len(events) > MAX_BATCH:
        raise BatchTooLarge(f"A batch holds at most {MAX_BATCH} events, got {len(events)}.")
    outcome = IngestOutcome()
    candidates: list[tuple[int, Event]] = []
    seen: set[str] = set()
    for index, event in enumerate(events):
        try:
            check_event(event)
        except EventError as error:
            outcome.rejected.append(Rejection(index, event.event_id, error.code, error.message))
            continue
        if event.event_id in seen:
            outcome.duplicates += 1
            continue
        seen.add(event.event_id)
        candidates.append((index, event))
    if not candidates:
        return outcome

    async with db.write(account_id) as conn:
        known = await store.existing_receipts(conn, account_id, [e.event_id for _, e in candidates])
        fresh = [(i, e) for i, e in candidates if e.event_id not in known]
        outcome.duplicates += len(candidates) - len(fresh)
        if not fresh:
            return outcome
        state = await _load_state(conn, account_id, [e for _, e in fresh])
        applier = Applier(state, redactor, body_limit)
        applied: list[str] = []
        for index, event in fresh:
            try:
                applier.apply(event)
            except EventError as error:
                outcome.rejected.append(Rejection(index, event.event_id, error.code, error.message))
                continue
            applied.append(event.event_id)
        if state.network_codes_to_recompute:
            applier.recompute_network_codes(
                await rows.load_where_in(
                    conn, "steps", account_id, "run_id", state.network_codes_to_recompute
                )
            )
        for table in rows.TABLES:
            dirty = state.rows_to_write(table)
            if table == "early_finishes":
                dirty = [r for r in dirty if r["run_id"] not in state.applied_early_finishes]
            await rows.upsert(conn, table, dirty)
        await rows.insert_history(conn, state.history)
        await store.delete_early_finishes(conn, account_id, state.applied_early_finishes)
        await store.add_flow_hours(conn, account_id, state.hours)
        await store.insert_receipts(conn, account_id, applied, datetime.now(UTC))
        outcome.accepted = len(applied)
        outcome.changes = applier.changes
    outcome.rejected.sort(key=lambda r: r.index)
    return outcome


async def _load_state(conn: AsyncConnection, account_id: str, events: list[Event]) -> BatchState:
    ids: dict[str, set[str]] = {k: set() for k in ("app", "flow", "integration", "run", "step")}
    starting_runs: set[str] = set()
    for event in events:
        d = event.data
        for kind in ids:
            value = d.get(f"{kind}_id")
            if value is not None:
                ids[kind].add(value)
        if event.kind == "run_started":
            ids["app"].add(d["trigger_app_id"])
            starting_runs.add(d["run_id"])

    state = BatchState(account_id)
    account = await accounts.account(conn, account_id)
    # Without an account row, the default threshold of a new account (10), not "off".
    state.auto_pause_after = (
        account.auto_pause_after_failures if account is not None else DEFAULT_AUTO_PAUSE_AFTER
    )
    state.runs = await rows.load_by_key(conn, "runs", account_id, ids["run"])
    ids["integration"].update(r["integration_id"] for r in state.runs.values())
    state.integrations = await rows.load_by_key(
        conn, "integrations", account_id, ids["integration"]
    )
    ids["flow"].update(i["flow_id"] for i in state.integrations.values())
    state.flows = await rows.load_by_key(conn, "flows", account_id, ids["flow"])
    user_ids = {i["user_id"] for i in state.integrations.values()}
    user_ids.update(e.data["user_id"] for e in events if e.kind == "integration_created")
    state.end_users = await rows.load_by_key(conn, "end_users", account_id, user_ids)
    # A limit reached in this batch pauses all of that end-user's integrations.
    limited = [u for u, row in state.end_users.items() if row["task_limit"] is not None]
    for key, row in (await rows.load_integrations_of_users(conn, account_id, limited)).items():
        state.integrations.setdefault(key, row)
    state.apps = await rows.load_by_key(conn, "apps", account_id, ids["app"])
    new_runs = starting_runs - state.runs.keys()
    state.steps = await rows.load_by_key(conn, "steps", account_id, ids["step"])
    state.steps.update(await rows.load_where_in(conn, "steps", account_id, "run_id", new_runs))
    state.early_finishes = await rows.load_by_key(conn, "early_finishes", account_id, new_runs)
    return state
