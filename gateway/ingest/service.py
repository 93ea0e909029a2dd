"""One ingest batch: deduplicate, load what it touches, apply in memory, write in bulk.

The statement count is fixed per batch (about fifteen), whatever its size: 1,000 events cost the
same handful of round trips as ten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import accounts, rows
from gateway.db import ingest_store as store
from gateway.db.engine import Database, UnitOfWork
from gateway.ingest.apply import Applier
from gateway.ingest.events import Event, EventError, check_event, valid_event_id
from gateway.ingest.redaction import Redactor
from gateway.ingest.state import BatchState
from gateway.limits import MAX_INGEST_BATCH

MAX_BATCH = MAX_INGEST_BATCH
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


class BatchTooLarge(ValueError):
    pass


async def ingest(
    db: Database,
    account_id: str,
    events: list[Event],
    *,
    redactor: Redactor,
    body_limit: int,
    max_future_skew: timedelta,
) -> IngestOutcome:
    """Applies what is valid of ``events``; times more than ``max_future_skew`` ahead of the
    server clock are refused."""
    if len(events) > MAX_BATCH:
        raise BatchTooLarge(f"A batch holds at most {MAX_BATCH} events, got {len(events)}.")
    outcome = IngestOutcome()
    now = datetime.now(UTC)
    candidates, invalid = _screen(events, now + max_future_skew, outcome)
    if candidates or invalid:
        async with db.write(account_id) as uow:
            conn = uow.conn
            ids = [e.event_id for _, e in candidates]
            ids += [r.event_id for r in invalid if r.event_id is not None]
            known = await store.existing_receipts(conn, account_id, ids)
            # An eventId applied before is a duplicate, whatever it carries now.
            for rejection in invalid:
                if rejection.event_id in known:
                    outcome.duplicates += 1
                else:
                    outcome.rejected.append(rejection)
            fresh = [(i, e) for i, e in candidates if e.event_id not in known]
            outcome.duplicates += len(candidates) - len(fresh)
            if fresh:
                state = await _load_state(conn, account_id, [e for _, e in fresh], now)
                applier = Applier(state, redactor, body_limit)
                await _apply(uow, applier, fresh, outcome)
    outcome.rejected.sort(key=lambda r: r.index)
    return outcome


def _screen(
    events: list[Event], latest: datetime, outcome: IngestOutcome
) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """The batch's events worth applying (checked, first of their eventId), and the rejected
    ones whose eventId may yet make them duplicates. Counts the duplicates within the batch."""
    candidates: list[tuple[int, Event]] = []
    invalid: list[Rejection] = []
    seen: set[str] = set()
    for index, event in enumerate(events):
        if event.event_id in seen:
            outcome.duplicates += 1
            continue
        try:
            check_event(event, latest)
        except EventError as error:
            rejection = Rejection(index, event.event_id, error.code, error.message)
            if valid_event_id(event.event_id):
                invalid.append(rejection)
            else:
                outcome.rejected.append(rejection)
            continue
        seen.add(event.event_id)
        candidates.append((index, event))
    return candidates, invalid


async def _apply(
    uow: UnitOfWork,
    applier: Applier,
    events: list[tuple[int, Event]],
    outcome: IngestOutcome,
) -> None:
    """Applies the events in memory, then writes what they changed in bulk and records the
    changes of status in the unit of work."""
    conn = uow.conn
    state = applier.state
    applied: dict[str, int] = {}
    for index, event in events:
        try:
            applier.apply(event)
        except EventError as error:
            outcome.rejected.append(Rejection(index, event.event_id, error.code, error.message))
            continue
        applied[event.event_id] = index
    # A runFinished kept for a run not started yet, found invalid when its runStarted came
    # later in the same batch: rejected after all (it was applied to nothing).
    for event_id, late in applier.withdrawn:
        index = applied.pop(event_id)
        outcome.rejected.append(Rejection(index, event_id, late.code, late.message))
    if state.network_codes_to_recompute:
        applier.recompute_network_codes(
            await rows.load_where_in(
                conn, "steps", state.account_id, "run_id", state.network_codes_to_recompute
            )
        )
    for table in rows.TABLES:
        dirty = state.rows_to_write(table)
        if table == "early_finishes":
            dirty = [r for r in dirty if r["run_id"] not in state.applied_early_finishes]
        await rows.upsert(conn, table, dirty)
    await rows.insert_history(conn, state.history)
    await store.delete_early_finishes(conn, state.account_id, state.applied_early_finishes)
    await store.add_flow_hours(conn, state.account_id, state.hours)
    await store.insert_receipts(conn, state.account_id, list(applied), datetime.now(UTC))
    outcome.accepted = len(applied)
    uow.record(*applier.changes)
    uow.note(*applier.crossings)


async def _load_state(
    conn: AsyncConnection, account_id: str, events: list[Event], now: datetime
) -> BatchState:
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

    state = BatchState(account_id, now=now)
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
    # Finishes kept for runs not started: applied by a runStarted, compared by a runFinished.
    state.early_finishes = await rows.load_by_key(
        conn, "early_finishes", account_id, ids["run"] - state.runs.keys()
    )
    return state
