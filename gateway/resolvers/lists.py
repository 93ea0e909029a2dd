"""The lists: a page from a loader (or one statement for a root list) and its count, as a
``Listing`` that either executor turns into a connection."""

from __future__ import annotations

from typing import Any

from gateway.context import Context
from gateway.db import reads
from gateway.db.queries import EndUserQuery, HistoryQuery
from gateway.present.connection import Listing
from gateway.resolvers import filters
from gateway.resolvers.paging import window


def _order(kind: str, order_by: Any) -> Any:
    make, default = {
        "integration": (reads.integration_order, "CREATED_AT"),
        "run": (reads.run_order, "START_TIME"),
    }[kind]
    if order_by is None:
        return make(default, True)
    return make(order_by.field.value, order_by.direction.value == "DESC")


async def flows(
    ctx: Context,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: Any,
) -> Listing:
    query = filters.flow_query(filter)
    win = window(reads.FLOW_ORDER, first, after, last, before)
    async with ctx.services.db.read() as conn:
        page = await reads.flow_page(conn, ctx.account_id, query, win)
    return Listing(
        page, reads.FLOW_ORDER, "flow_id", lambda: ctx.loaders.count_of("flows", None, query)
    )


async def integrations(
    ctx: Context,
    parent: str,
    parent_id: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    search: str | None,
    filter: Any,
    order_by: Any,
) -> Listing:
    """Integrations of a flow, of an end-user, or (parent "account") of the whole account."""
    query = filters.integration_query(search, filter)
    order = _order("integration", order_by)
    win = window(order, first, after, last, before)
    if parent_id is None:
        async with ctx.services.db.read() as conn:
            page = await reads.account_integration_page(conn, ctx.account_id, query, order, win)
    else:
        page = await ctx.loaders.integrations_of(parent, parent_id, query, order, win)
    return Listing(
        page,
        order,
        "integration_id",
        lambda: ctx.loaders.count_of(f"integrations:{parent}", parent_id, query),
    )


async def runs(
    ctx: Context,
    parent: str,
    parent_id: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    search: str | None,
    filter: Any,
    order_by: Any,
) -> Listing:
    """Runs of an integration, of a flow, or (parent "account") of the whole account."""
    query = filters.run_query(search, filter)
    order = _order("run", order_by)
    win = window(order, first, after, last, before)
    if parent_id is None:
        async with ctx.services.db.read() as conn:
            page = await reads.account_run_page(conn, ctx.account_id, query, order, win)
    else:
        page = await ctx.loaders.runs_of(parent, parent_id, query, order, win)
    return Listing(
        page, order, "run_id", lambda: ctx.loaders.count_of(f"runs:{parent}", parent_id, query)
    )


async def steps_of_run(
    ctx: Context, run_id: str, first: int | None, after: str | None, filter: Any
) -> Listing:
    query = filters.step_query(filter)
    win = window(reads.STEP_ORDER, first, after)
    page = await ctx.loaders.steps_of_run(run_id, query, win)
    return Listing(
        page,
        reads.STEP_ORDER,
        "step_id",
        lambda: ctx.loaders.count_of("steps:run", run_id, query),
    )


async def status_history(
    ctx: Context, integration_id: str, first: int | None, after: str | None
) -> Listing:
    win = window(reads.HISTORY_ORDER, first, after)
    page = await ctx.loaders.history_of(integration_id, win)
    return Listing(
        page,
        reads.HISTORY_ORDER,
        "integration_id",
        lambda: ctx.loaders.count_of("history:integration", integration_id, HistoryQuery()),
    )


async def end_users_of_flow(
    ctx: Context, flow_id: str, first: int | None, after: str | None
) -> Listing:
    query = EndUserQuery(flow_id)
    win = window(reads.END_USER_ORDER, first, after)
    async with ctx.services.db.read() as conn:
        page = await reads.end_user_page(conn, ctx.account_id, query, win)
    return Listing(
        page,
        reads.END_USER_ORDER,
        "user_key",
        lambda: ctx.loaders.count_of("endUsers", None, query),
    )
