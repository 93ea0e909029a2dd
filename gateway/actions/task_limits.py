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
from gateway.notifications.notices import LimitCrossing

Row = dict[str, Any]
DEFAULT_PERIOD_DAYS = 30
# The shares of a limit whose reaching notifies the account, in percent.
THRESHOLDS = (80, 100)


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


def reached(end_user: Row) -> set[int]:
    """The THRESHOLDS the end-user's tasks in the current period have reached."""
    limit = end_user["task_limit"]
    if limit is None or limit <= 0:
        return set()
    return {p for p in THRESHOLDS if end_user["period_tasks"] * 100 >= p * limit}


def _note_crossings(
    end_user: Row, before: set[int], now: datetime, crossings: list[LimitCrossing] | None
) -> None:
    if crossings is None:
        return
    for percent in sorted(reached(end_user) - before):
        crossings.append(
            LimitCrossing(
                end_user["account_id"],
                end_user["user_id"],
                percent,
                end_user["task_limit"],
                end_user["period_tasks"],
                end_user["period_start"],
                end_user["period_end"],
                now,
            )
        )


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
    end_user: Row,
    integrations: list[Row],
    delta: int,
    now: datetime,
    history: list[Row],
    crossings: list[LimitCrossing] | None = None,
) -> Changed:
    """Counts ``delta`` tasks ingested ``now``, pausing at the limit; the thresholds this
    reaches go to ``crossings``."""
    changed = roll_period(end_user, integrations, now, history)
    end_user["tasks_consumed"] += delta
    if end_user["task_limit"] is None:
        return changed
    before = reached(end_user)
    end_user["period_tasks"] = max(0, end_user["period_tasks"] + delta)
    _note_crossings(end_user, before, now, crossings)
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
    crossings: list[LimitCrossing] | None = None,
) -> Changed:
    """Sets or (limit None) removes the limit and re-checks at once. Keeping the period length
    keeps the current period and its count; thresholds reached under the new limit and not
    under the old one go to ``crossings``."""
    before = reached(end_user)
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
        before = set()  # a new period: nothing reached yet
    changed = roll_period(end_user, integrations, now, history)
    _note_crossings(end_user, before, now, crossings)
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
