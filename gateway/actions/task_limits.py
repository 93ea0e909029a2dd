"""End-users' task limits: counting a period's tasks, pausing at the limit, resuming after.

A limit's periods are fixed windows of ``period_days`` from the moment it was set. Reaching the
limit pauses the end-user's ENABLED integrations with BILLING; the next period enables again
exactly the integrations still PAUSED for BILLING, so one a person disabled meanwhile stays
disabled. Pure functions over rows, shared by ingest, setTaskLimit and the period sweep.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from gateway.actions.transitions import TASK_LIMIT, change_status

Row = dict[str, Any]
DEFAULT_PERIOD_DAYS = 30


def user_key(user_id: str) -> str:
    return hashlib.sha256(user_id.encode()).hexdigest()[:40]


def new_end_user(account_id: str, user_id: str, at: datetime) -> Row:
    return {
        "account_id": account_id,
        "user_id": user_id,
        "user_key": user_key(user_id),
        "tasks_consumed": 0,
        "task_limit": None,
        "period_days": None,
        "period_start": None,
        "period_end": None,
        "period_tasks": 0,
        "last_active_at": at,
    }


# What the functions below return: each integration whose status they changed, with the
# status it had before.
Changed = list[tuple[Row, str]]


def _pause(integrations: Iterable[Row], at: datetime, history: list[Row]) -> Changed:
    return [
        (integration, change_status(integration, "PAUSED", "BILLING", at, TASK_LIMIT, history))
        for integration in integrations
        if integration["status"] == "ENABLED"
    ]


def _resume(integrations: Iterable[Row], at: datetime, history: list[Row]) -> Changed:
    return [
        (integration, change_status(integration, "ENABLED", None, at, TASK_LIMIT, history))
        for integration in integrations
        if integration["status"] == "PAUSED" and integration["paused_reason"] == "BILLING"
    ]


def over_limit(end_user: Row) -> bool:
    limit = end_user["task_limit"]
    return limit is not None and end_user["period_tasks"] >= limit


def roll_period(
    end_user: Row, integrations: list[Row], now: datetime, history: list[Row]
) -> Changed:
    """Starts the current period if the last one ended, resuming what the limit paused."""
    end = end_user["period_end"]
    if end_user["task_limit"] is None or end is None or now < end:
        return []
    length = timedelta(days=end_user["period_days"])
    periods = (now - end) // length + 1
    end_user["period_start"] = end + (periods - 1) * length
    end_user["period_end"] = end + periods * length
    end_user["period_tasks"] = 0
    return _resume(integrations, end_user["period_start"], history)


def add_tasks(
    end_user: Row, integrations: list[Row], delta: int, now: datetime, history: list[Row]
) -> Changed:
    """Counts ``delta`` tasks ingested ``now``, pausing at the limit."""
    changed = roll_period(end_user, integrations, now, history)
    end_user["tasks_consumed"] += delta
    if end_user["task_limit"] is None:
        return changed
    end_user["period_tasks"] = max(0, end_user["period_tasks"] + delta)
    if over_limit(end_user):
        changed += _pause(integrations, now, history)
    return changed


def set_limit(
    end_user: Row,
    integrations: list[Row],
    limit: int | None,
    period_days: int | None,
    now: datetime,
    history: list[Row],
) -> Changed:
    """Sets or (limit None) removes the limit and re-checks at once. Keeping the period length
    keeps the current period and its count."""
    if limit is None:
        end_user.update(
            task_limit=None, period_days=None, period_start=None, period_end=None, period_tasks=0
        )
        return _resume(integrations, now, history)
    days = period_days or end_user["period_days"] or DEFAULT_PERIOD_DAYS
    same_period = end_user["task_limit"] is not None and end_user["period_days"] == days
    end_user["task_limit"] = limit
    if not same_period:
        end_user.update(
            period_days=days,
            period_start=now,
            period_end=now + timedelta(days=days),
            period_tasks=0,
        )
    changed = roll_period(end_user, integrations, now, history)
    if over_limit(end_user):
        return changed + _pause(integrations, now, history)
    return changed + _resume(integrations, now, history)


def end_user_status(statuses: Iterable[tuple[str, str | None]]) -> str:
    """ACTIVE if any integration is ENABLED, PAUSED if one is paused for BILLING, else
    INACTIVE."""
    pairs = list(statuses)
    if any(status == "ENABLED" for status, _ in pairs):
        return "ACTIVE"
    if any(status == "PAUSED" and reason == "BILLING" for status, reason in pairs):
        return "PAUSED"
    return "INACTIVE"
