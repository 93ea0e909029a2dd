"""Turning a unit of work's changes into outbox rows, inside its transaction.

What notifies: a run that fails; an integration paused for TOO_MANY_ERRORS (a BILLING pause is
told by the end-user's task-limit notice instead) or failed to initialize; an end-user reaching
80 % and 100 % of a task limit (once per period each); and ``run.recovered`` when an integration
whose failure was notified next finishes a run OK.

Storms fold, per integration: a failure while a notification of that integration is still
waiting (not serialised yet) is counted into it. Otherwise the first failure notifies at once and
opens a window of ``min_interval_seconds``; failures within the window go into one follow-up due
at its end, which opens the next window.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.live.changes import Change
from gateway.notifications import notices as n
from gateway.notifications import store
from gateway.times import iso

Row = dict[str, Any]


def new_webhook_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def _notifying(change: Change) -> bool:
    if change.kind == "run":
        return change.status in ("FAILED", "OK") and change.previous != change.status
    if change.kind == "integration":
        return change.status == "FAILED_TO_INITIALIZE" or (
            change.status == "PAUSED" and change.reason != "BILLING"
        )
    return False


def in_scope(endpoint: Any, flow_id: str | None) -> bool:
    return endpoint.flow_ids is None or flow_id in endpoint.flow_ids


def is_active(endpoint: Any) -> bool:
    return bool(endpoint is not None and endpoint.enabled and endpoint.webhook_url)


def notification_row(
    account_id: str,
    type_: str,
    occurred_at: datetime,
    now: datetime,
    *,
    due: datetime | None = None,
    flow_id: str | None = None,
    integration_id: str | None = None,
    run_id: str | None = None,
    user_id: str | None = None,
    facts: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> Row:
    return {
        "account_id": account_id,
        "webhook_id": new_webhook_id(),
        "type": type_,
        "status": "PENDING",
        "flow_id": flow_id,
        "integration_id": integration_id,
        "run_id": run_id,
        "user_id": user_id,
        "facts": facts or {},
        "count": 1,
        "first_occurred_at": occurred_at,
        "last_occurred_at": occurred_at,
        "dedup_key": dedup_key,
        "body": None,
        "attempts": 0,
        "round_attempts": 0,
        "next_attempt_at": due or now,
        "lease_until": None,
        "claim_token": None,
        "created_at": now,
        "finished_at": None,
        "last_response_code": None,
        "last_error": None,
    }


class _Batch:
    """The notifications of one unit of work, folded in memory before they are written."""

    def __init__(self, conn: AsyncConnection, account_id: str, endpoint: Any, now: datetime):
        self.conn = conn
        self.account_id = account_id
        self.interval = timedelta(seconds=endpoint.min_interval_seconds)
        self.now = now
        self.rows: list[Row] = []
        self.new: dict[str, Row] = {}  # webhook_id -> row written by this batch
        # webhook_id of an earlier transaction's row this batch folds into -> [further
        # failures, the last one's time, its run]: counted here, written once at the end.
        self.folded: dict[str, list[Any]] = {}
        self.states: dict[str, Row] = {}
        self.dirty: set[str] = set()

    def state(self, integration_id: str) -> Row:
        state = self.states.get(integration_id)
        if state is None:
            state = self.states[integration_id] = {
                "account_id": self.account_id,
                "integration_id": integration_id,
                "failing": False,
                "fold_until": None,
                "pending_webhook_id": None,
            }
        self.dirty.add(integration_id)
        return state

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        self.new[row["webhook_id"]] = row
        return row

    async def _fold(self, state: Row, change: Change) -> bool:
        pending = state["pending_webhook_id"]
        if pending is None:
            return False
        row = self.new.get(pending)
        if row is not None:
            row["count"] += 1
            row["last_occurred_at"] = change.at
            row["run_id"] = change.object_id
            return True
        more = self.folded.get(pending)
        if more is not None:
            more[0] += 1
            more[1:] = [change.at, change.object_id]
            return True
        # The first fold into it checks that it is still waiting (and keeps it from a claim
        # until this transaction ends: a row lock on PostgreSQL, the one writer on SQLite).
        if await store.fold_into(
            self.conn, self.account_id, pending, 1, change.at, change.object_id
        ):
            self.folded[pending] = [0, change.at, change.object_id]
            return True
        return False

    async def flush_folds(self) -> None:
        for webhook_id, (count, at, run_id) in self.folded.items():
            if count:
                await store.fold_into(self.conn, self.account_id, webhook_id, count, at, run_id)

    async def run_failed(self, change: Change) -> None:
        assert change.integration_id is not None
        state = self.state(change.integration_id)
        state["failing"] = True
        if await self._fold(state, change):
            return
        fold_until = state["fold_until"]
        due = fold_until if fold_until is not None and fold_until > self.now else self.now
        row = self.add(
            notification_row(
                self.account_id,
                n.RUN_FAILED,
                change.at,
                self.now,
                due=due,
                flow_id=change.flow_id,
                integration_id=change.integration_id,
                run_id=change.object_id,
            )
        )
        state["pending_webhook_id"] = row["webhook_id"]
        state["fold_until"] = due + self.interval

    async def run_ok(self, change: Change) -> None:
        assert change.integration_id is not None
        state = self.states.get(change.integration_id)
        if state is None or not state["failing"]:
            return
        state = self.state(change.integration_id)
        pending = state["pending_webhook_id"]
        if pending is not None and pending not in self.new:
            # A follow-up still waiting for its window goes first, with what it counted.
            await store.bring_forward(self.conn, self.account_id, pending, self.now)
        elif pending is not None:
            self.new[pending]["next_attempt_at"] = self.now
        state["failing"] = False
        state["pending_webhook_id"] = None
        self.add(
            notification_row(
                self.account_id,
                n.RUN_RECOVERED,
                change.at,
                self.now,
                flow_id=change.flow_id,
                integration_id=change.integration_id,
                run_id=change.object_id,
            )
        )

    def integration(self, change: Change) -> None:
        type_ = (
            n.INTEGRATION_PAUSED
            if change.status == "PAUSED"
            else (n.INTEGRATION_FAILED_TO_INITIALIZE)
        )
        self.add(
            notification_row(
                self.account_id,
                type_,
                change.at,
                self.now,
                flow_id=change.flow_id,
                integration_id=change.object_id,
                facts={"status": change.status, "reason": change.reason},
            )
        )

    def crossing(self, crossing: n.LimitCrossing) -> None:
        period = iso(crossing.period_start)
        self.add(
            notification_row(
                self.account_id,
                n.TASK_LIMIT_TYPES[crossing.percent],
                crossing.at,
                self.now,
                user_id=crossing.user_id,
                facts={
                    "percent": crossing.percent,
                    "taskLimit": crossing.task_limit,
                    "periodTasks": crossing.period_tasks,
                    "periodStart": period,
                    "periodEnd": iso(crossing.period_end),
                },
                # Once per period and threshold, whatever corrections come later.
                dedup_key=f"{crossing.percent}:{period}:{_digest(crossing.user_id)}",
            )
        )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


async def enqueue(
    conn: AsyncConnection,
    account_id: str,
    changes: Sequence[Change],
    crossings: Sequence[n.LimitCrossing],
    now: datetime | None = None,
) -> int:
    """Writes the notifications ``changes`` and ``crossings`` call for; returns how many rows
    it added. Reads nothing when nothing could notify."""
    relevant = [c for c in changes if _notifying(c)]
    if not relevant and not crossings:
        return 0
    endpoint = await store.endpoint(conn, account_id)
    if not is_active(endpoint):
        return 0
    relevant = [c for c in relevant if in_scope(endpoint, c.flow_id)]
    if not relevant and not crossings:
        return 0
    batch = _Batch(conn, account_id, endpoint, now or datetime.now(UTC))
    runs = {c.integration_id for c in relevant if c.kind == "run" and c.integration_id}
    batch.states = await store.integration_states(conn, account_id, runs)
    for change in relevant:
        if change.kind == "integration":
            batch.integration(change)
        elif change.status == "FAILED":
            await batch.run_failed(change)
        else:
            await batch.run_ok(change)
    for crossing in crossings:
        batch.crossing(crossing)
    await batch.flush_folds()
    await store.save_integration_states(conn, [batch.states[i] for i in batch.dirty])
    return await store.insert_notifications(conn, batch.rows)
