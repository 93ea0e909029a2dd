"""Batch fetchers of the read API: plain rows, many keys per statement, scoped to one account.

Independent of GraphQL, so any executor can call them; the per-request loaders wrap them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, Table, case, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import tables as t
from gateway.db.pages import Order, PageRows, Window, count_by_parent, fetch_page, fetch_pages
from gateway.db.queries import (
    EndUserQuery,
    FlowQuery,
    HistoryQuery,
    IntegrationQuery,
    RunQuery,
    StepQuery,
)

Row = Any

# Order names carry the list: a cursor of one list is refused by another.
FLOW_ORDER = Order("flows:CREATED_AT:DESC", "created_at", descending=True)
STEP_ORDER = Order("steps:POSITION:ASC", "position", descending=False, kind="int")


def integration_order(field: str, descending: bool) -> Order:
    column, nullable = {
        "CREATED_AT": ("created_at", False),
        "LAST_RUN_START": ("last_run_start", True),
    }[field]
    name = f"integrations:{field}:{'DESC' if descending else 'ASC'}"
    return Order(name, column, descending, nullable)


def run_order(field: str, descending: bool) -> Order:
    column, nullable, kind = {
        "START_TIME": ("start_time", False, "datetime"),
        "DURATION": ("duration_ms", True, "int"),
    }[field]
    return Order(
        f"runs:{field}:{'DESC' if descending else 'ASC'}", column, descending, nullable, kind
    )


async def _by_keys(
    conn: AsyncConnection, table: Table, key: str, account_id: str, keys: Sequence[str]
) -> dict[str, Row]:
    rows = await conn.execute(
        select(table).where(table.c.account_id == account_id, table.c[key].in_(list(keys)))
    )
    return {getattr(row, key): row for row in rows}


async def apps_by_id(conn: AsyncConnection, account_id: str, ids: Sequence[str]) -> dict[str, Row]:
    return await _by_keys(conn, t.apps, "app_id", account_id, ids)


async def flows_by_id(conn: AsyncConnection, account_id: str, ids: Sequence[str]) -> dict[str, Row]:
    return await _by_keys(conn, t.flows, "flow_id", account_id, ids)


async def integrations_by_id(
    conn: AsyncConnection, account_id: str, ids: Sequence[str]
) -> dict[str, Row]:
    return await _by_keys(conn, t.integrations, "integration_id", account_id, ids)


async def runs_by_id(conn: AsyncConnection, account_id: str, ids: Sequence[str]) -> dict[str, Row]:
    return await _by_keys(conn, t.runs, "run_id", account_id, ids)


async def steps_by_id(conn: AsyncConnection, account_id: str, ids: Sequence[str]) -> dict[str, Row]:
    # A step reported before its run started stays hidden until the run exists.
    s, r = t.steps, t.runs
    known_run = select(r.c.run_id).where(r.c.account_id == account_id, r.c.run_id == s.c.run_id)
    rows = await conn.execute(
        select(s).where(
            s.c.account_id == account_id, s.c.step_id.in_(list(ids)), known_run.exists()
        )
    )
    return {row.step_id: row for row in rows}


async def payloads_by_step(
    conn: AsyncConnection, account_id: str, step_ids: Sequence[str]
) -> dict[str, Row]:
    return await _by_keys(conn, t.payloads, "step_id", account_id, step_ids)


async def failed_step_by_run(
    conn: AsyncConnection, account_id: str, run_ids: Sequence[str]
) -> dict[str, Row]:
    s = t.steps
    rows = await conn.execute(
        select(s)
        .where(s.c.account_id == account_id, s.c.run_id.in_(list(run_ids)), s.c.status == "FAILED")
        .order_by(s.c.run_id, s.c.position.desc(), s.c.step_id.desc())
    )
    first: dict[str, Row] = {}
    for row in rows:
        first[row.run_id] = row  # the last written per run is the lowest position
    return first


# pages -----------------------------------------------------------------------------------


async def flow_page(
    conn: AsyncConnection, account_id: str, query: FlowQuery, window: Window
) -> PageRows:
    return await fetch_page(
        conn, t.flows, "flow_id", query.conditions(account_id), FLOW_ORDER, window
    )


INTEGRATION_PARENTS = {"flow": "flow_id", "user": "user_id"}


async def integration_pages(
    conn: AsyncConnection,
    account_id: str,
    parent_ids: Sequence[str],
    parent: str,
    query: IntegrationQuery,
    order: Order,
    window: Window,
) -> dict[str, PageRows]:
    return await fetch_pages(
        conn,
        t.integrations,
        "integration_id",
        INTEGRATION_PARENTS[parent],
        parent_ids,
        query.conditions(account_id),
        order,
        window,
    )


async def account_integration_page(
    conn: AsyncConnection, account_id: str, query: IntegrationQuery, order: Order, window: Window
) -> PageRows:
    return await fetch_page(
        conn, t.integrations, "integration_id", query.conditions(account_id), order, window
    )


RUN_PARENTS = {"integration": "integration_id", "flow": "flow_id"}


async def run_pages(
    conn: AsyncConnection,
    account_id: str,
    parent_ids: Sequence[str],
    parent: str,
    query: RunQuery,
    order: Order,
    window: Window,
) -> dict[str, PageRows]:
    return await fetch_pages(
        conn,
        t.runs,
        "run_id",
        RUN_PARENTS[parent],
        parent_ids,
        query.conditions(account_id),
        order,
        window,
    )


async def account_run_page(
    conn: AsyncConnection, account_id: str, query: RunQuery, order: Order, window: Window
) -> PageRows:
    return await fetch_page(conn, t.runs, "run_id", query.conditions(account_id), order, window)


async def step_pages(
    conn: AsyncConnection,
    account_id: str,
    run_ids: Sequence[str],
    query: StepQuery,
    window: Window,
) -> dict[str, PageRows]:
    return await fetch_pages(
        conn,
        t.steps,
        "step_id",
        "run_id",
        run_ids,
        query.conditions(account_id),
        STEP_ORDER,
        window,
    )


HISTORY_ORDER = Order("history:CHANGE:DESC", "change_id", descending=True, kind="int")
END_USER_ORDER = Order("endUsers:LAST_ACTIVE:DESC", "last_active_at", descending=True)


async def history_pages(
    conn: AsyncConnection, account_id: str, integration_ids: Sequence[str], window: Window
) -> dict[str, PageRows]:
    """Status changes, newest (last applied) first. Cursors carry (change_id, integrationId);
    change_id alone is unique, so it is the keyset's id as well as its sort value."""
    window = replace(
        window,
        after=None if window.after is None else (window.after[0], window.after[0]),
        before=None if window.before is None else (window.before[0], window.before[0]),
    )
    h = t.integration_status_changes
    return await fetch_pages(
        conn,
        h,
        "change_id",
        "integration_id",
        integration_ids,
        HistoryQuery().conditions(account_id),
        HISTORY_ORDER,
        window,
    )


async def end_user_page(
    conn: AsyncConnection, account_id: str, query: EndUserQuery, window: Window
) -> PageRows:
    return await fetch_page(
        conn, t.end_users, "user_key", query.conditions(account_id), END_USER_ORDER, window
    )


async def end_users_by_id(
    conn: AsyncConnection, account_id: str, user_ids: Sequence[str]
) -> dict[str, Row]:
    return await _by_keys(conn, t.end_users, "user_id", account_id, user_ids)


async def end_user_statuses(
    conn: AsyncConnection, account_id: str, user_ids: Sequence[str]
) -> dict[str, list[tuple[str, str | None]]]:
    """Per end-user: the (status, paused reason) pairs of their integrations."""
    i = t.integrations
    rows = await conn.execute(
        select(i.c.user_id, i.c.status, i.c.paused_reason)
        .where(i.c.account_id == account_id, i.c.user_id.in_(list(user_ids)))
        .distinct()
    )
    out: dict[str, list[tuple[str, str | None]]] = {u: [] for u in user_ids}
    for user_id, status, reason in rows:
        out[user_id].append((status, reason))
    return out


COUNTED: dict[str, tuple[Table, str | None]] = {
    "flows": (t.flows, None),
    "integrations:flow": (t.integrations, "flow_id"),
    "integrations:user": (t.integrations, "user_id"),
    "integrations:account": (t.integrations, None),
    "history:integration": (t.integration_status_changes, "integration_id"),
    "endUsers": (t.end_users, None),
    "runs:integration": (t.runs, "integration_id"),
    "runs:flow": (t.runs, "flow_id"),
    "runs:account": (t.runs, None),
    "steps:run": (t.steps, "run_id"),
}


async def counts(
    conn: AsyncConnection,
    account_id: str,
    parent_ids: Sequence[str],
    what: str,
    query: Any,
) -> dict[str | None, int]:
    table, parent = COUNTED[what]
    return await count_by_parent(conn, table, parent, parent_ids, query.conditions(account_id))


# flow statistics --------------------------------------------------------------------------


async def integration_status_counts(
    conn: AsyncConnection, account_id: str, flow_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per flow: count per status, plus ``_failing`` (last run failed)."""
    i = t.integrations
    failing = func.sum(func.cast(i.c.last_run_status == "FAILED", Integer))
    rows = await conn.execute(
        select(i.c.flow_id, i.c.status, func.count(), failing)
        .where(i.c.account_id == account_id, i.c.flow_id.in_(list(flow_ids)))
        .group_by(i.c.flow_id, i.c.status)
    )
    out: dict[str, dict[str, int]] = {fid: {"_failing": 0} for fid in flow_ids}
    for flow_id, status, count, failed in rows:
        out[flow_id][status] = int(count)
        out[flow_id]["_failing"] += int(failed or 0)
    return out


async def flow_hours(
    conn: AsyncConnection, account_id: str, flow_ids: Sequence[str], since: datetime
) -> dict[str, list[Row]]:
    h = t.flow_hours
    rows = await conn.execute(
        select(h)
        .where(h.c.account_id == account_id, h.c.flow_id.in_(list(flow_ids)), h.c.hour >= since)
        .order_by(h.c.flow_id, h.c.hour)
    )
    out: dict[str, list[Row]] = {fid: [] for fid in flow_ids}
    for row in rows:
        out[row.flow_id].append(row)
    return out


async def runs_between(
    conn: AsyncConnection,
    account_id: str,
    flow_ids: Sequence[str],
    since: datetime,
    until: datetime,
) -> dict[str, tuple[int, int]]:
    """Per flow: runs, and failed runs, that started in [since, until], in one statement.

    Hourly buckets give every hour from the first whole one through the hour of ``until``;
    the runs themselves, through the (account, flow, start_time) index, give the partial hour
    before the first bucket, and are taken off for the part of the last bucket after
    ``until`` (usually none: runs that start later than now). So at most one hour of runs is
    read, half an hour on average, however busy the flow."""
    h, r = t.flow_hours, t.runs
    first_whole = hour_floor(since) if since == hour_floor(since) else hour_floor(since) + HOUR
    last_hour = hour_floor(until)
    ids = list(flow_ids)
    buckets = select(
        h.c.flow_id.label("flow_id"),
        h.c.runs.label("runs"),
        h.c.failed_runs.label("failed"),
    ).where(
        h.c.account_id == account_id,
        h.c.flow_id.in_(ids),
        h.c.hour >= first_whole,
        h.c.hour <= last_hour,
    )

    def counted(sign: int, *time_range: ColumnElement[bool]) -> Select[Any]:
        # One range per part of the statement: the index searches a range, not an OR of two.
        return (
            select(
                r.c.flow_id.label("flow_id"),
                (sign * func.count()).label("runs"),
                (sign * func.sum(case((r.c.status == "FAILED", 1), else_=0))).label("failed"),
            )
            .where(r.c.account_id == account_id, r.c.flow_id.in_(ids), *time_range)
            .group_by(r.c.flow_id)
        )

    before_buckets = counted(1, r.c.start_time >= since, r.c.start_time < first_whole)
    after_until = counted(-1, r.c.start_time > until, r.c.start_time < last_hour + HOUR)
    parts = union_all(buckets, before_buckets, after_until).subquery()
    rows = await conn.execute(
        select(parts.c.flow_id, func.sum(parts.c.runs), func.sum(parts.c.failed)).group_by(
            parts.c.flow_id
        )
    )
    out = dict.fromkeys(ids, (0, 0))
    for flow_id, runs, failed in rows:
        out[flow_id] = (int(runs or 0), int(failed or 0))
    return out


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


HOUR = timedelta(hours=1)
