"""What each planned field is: a plain value read from its parent's row (``Sync``), or a batch
that answers every parent of one level at once (``Batch``), through the same loaders, lists
and presentation functions as the strawberry types.

A field's value is what the API shows before serialisation: rows for object types,
``(type name, row)`` for the ``Node`` interface, lists for lists, and JSON-ready leaves (ISO
times, enum names). A batch returns one value per parent; an exception in its place is that
parent's field error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.actions.task_limits import end_user_status
from gateway.auth.permissions import CanRead
from gateway.context import Context
from gateway.errors import Forbidden, NotFound
from gateway.present import payload as p
from gateway.present import values as v
from gateway.present.connection import Listing
from gateway.resolvers import lists, lookups, stats
from gateway.times import iso


@dataclass(frozen=True, slots=True)
class Sync:
    get: Callable[[Any, Context], Any]


BatchFn = Callable[[Context, Sequence[Any], dict[str, Any]], Awaitable[list[Any]]]


@dataclass(frozen=True, slots=True)
class Batch:
    load: BatchFn


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def col(name: str) -> Sync:
    def get(row: Any, _ctx: Context) -> Any:
        return getattr(row, name)

    return Sync(get)


def time_col(name: str) -> Sync:
    def get(row: Any, _ctx: Context) -> Any:
        return _time(getattr(row, name))

    return Sync(get)


def item(index: int) -> Sync:
    def get(row: Any, _ctx: Context) -> Any:
        return row[index]

    return Sync(get)


def itself() -> Sync:
    return Sync(lambda row, _ctx: row)


async def _each(
    rows: Sequence[Any], make: Callable[[Any], Awaitable[Any]]
) -> list[Any]:
    """One awaitable per parent, gathered: their loads fall into one batch per loader."""
    return list(await asyncio.gather(*(make(row) for row in rows), return_exceptions=True))


def _loaded(loader_name: str, key: Callable[[Any], Any]) -> Batch:
    """A to-one relation through a loader (one statement for the level)."""

    async def load(ctx: Context, rows: Sequence[Any], _args: dict[str, Any]) -> list[Any]:
        keys = [key(row) for row in rows]
        # Each key once: many steps share a run and an app.
        wanted = [k for k in dict.fromkeys(keys) if k is not None]
        found = await getattr(ctx.loaders, loader_name).load_many(wanted) if wanted else []
        by_key = dict(zip(wanted, found, strict=True))
        return [None if k is None else by_key[k] for k in keys]

    return Batch(load)


def _read(field: BatchFn) -> Batch:
    """A root field, behind the same role check as strawberry's ``CanRead``."""

    async def load(ctx: Context, rows: Sequence[Any], args: dict[str, Any]) -> list[Any]:
        if ctx.principal.role not in CanRead.roles:
            return [Forbidden(CanRead.message) for _ in rows]
        return await field(ctx, rows, args)

    return Batch(load)


def _lookup(type_name: str, arg: str) -> Batch:
    async def load(ctx: Context, rows: Sequence[Any], args: dict[str, Any]) -> list[Any]:
        async def one(_row: Any) -> Any:
            found = await lookups.by_key(ctx, type_name, args[arg])
            return None if found is None else found[1]

        return await _each(rows, one)

    return _read(load)


async def _node(ctx: Context, rows: Sequence[Any], args: dict[str, Any]) -> list[Any]:
    return await _each(rows, lambda _row: lookups.node(ctx, args["id"]))


async def _nodes(ctx: Context, rows: Sequence[Any], args: dict[str, Any]) -> list[Any]:
    return await _each(rows, lambda _row: lookups.nodes(ctx, list(args["ids"])))


async def _viewer(ctx: Context, rows: Sequence[Any], _args: dict[str, Any]) -> list[Any]:
    async def one(_row: Any) -> Any:
        row = await lookups.account(ctx)
        if row is None:
            raise NotFound("The key's account no longer exists.")
        return row

    return await _each(rows, one)


def _listing(make: Callable[[Context, Any, dict[str, Any]], Awaitable[Listing]]) -> Batch:
    async def load(ctx: Context, rows: Sequence[Any], args: dict[str, Any]) -> list[Any]:
        return await _each(rows, lambda row: make(ctx, row, args))

    return Batch(load)


async def _count(ctx: Context, rows: Sequence[Any], _args: dict[str, Any]) -> list[Any]:
    return await _each(rows, lambda listing: listing.count())


async def _stats(ctx: Context, rows: Sequence[Any], _args: dict[str, Any]) -> list[Any]:
    async def one(row: Any) -> Any:
        return (await stats.summary(ctx, row.flow_id), row)

    return await _each(rows, one)


async def _timeline(ctx: Context, rows: Sequence[Any], args: dict[str, Any]) -> list[Any]:
    return await _each(rows, lambda pair: stats.timeline(ctx, pair[1].flow_id, args["hours"]))


async def _end_user_status(ctx: Context, rows: Sequence[Any], _args: dict[str, Any]) -> list[Any]:
    found = await ctx.loaders.end_user_statuses.load_many([row.user_id for row in rows])
    return [end_user_status(pairs) for pairs in found]


async def _payload(ctx: Context, rows: Sequence[Any], args: dict[str, Any]) -> list[Any]:
    # Only steps that stored one have a payload row to look for.
    return await _loaded("payload", lambda row: row.step_id if row.has_payload else None).load(
        ctx, rows, args
    )


async def _error_docs(ctx: Context, rows: Sequence[Any], args: dict[str, Any]) -> list[Any]:
    apps = await _loaded("app", lambda row: row.app_id).load(ctx, rows, args)
    return [v.app_docs_url(app) for app in apps]


CONNECTION: dict[str, Sync | Batch] = {
    "nodes": Sync(lambda listing, _ctx: listing.rows),
    "edges": Sync(lambda listing, _ctx: listing.edges()),
    "pageInfo": Sync(lambda listing, _ctx: listing.page_info()),
    "totalCount": Batch(_count),
}
EDGE: dict[str, Sync | Batch] = {"cursor": item(0), "node": item(1)}

FIELDS: dict[str, dict[str, Sync | Batch]] = {
    "Query": {
        "node": _read(_node),
        "nodes": _read(_nodes),
        "viewer": _read(_viewer),
        "flow": _lookup("Flow", "flow_id"),
        "integration": _lookup("Integration", "integration_id"),
        "run": _lookup("Run", "run_id"),
        "step": _lookup("Step", "step_id"),
        "endUser": _lookup("EndUser", "user_id"),
        "flows": _read(_listing(lambda ctx, _row, a: lists.flows(ctx, **a)).load),
        "runs": _read(_listing(lambda ctx, _row, a: lists.runs(ctx, "account", None, **a)).load),
        "integrations": _read(
            _listing(lambda ctx, _row, a: lists.integrations(ctx, "account", None, **a)).load
        ),
    },
    "Account": {
        "accountId": col("account_id"),
        "name": col("name"),
        "autoPauseAfterFailures": col("auto_pause_after_failures"),
        "retentionDays": Sync(
            lambda row, ctx: ctx.services.settings.retention_days
            if row.retention_days is None
            else row.retention_days
        ),
    },
    "App": {
        "appId": col("app_id"),
        "name": col("name"),
        "iconUrl": col("icon_url"),
        "docsUrl": col("docs_url"),
    },
    "Flow": {
        "id": Sync(lambda row, _ctx: v.global_id("Flow", row.flow_id)),
        "flowId": col("flow_id"),
        "name": col("name"),
        "status": col("status"),
        "createdAt": time_col("created_at"),
        "stats": Batch(_stats),
        "integrations": _listing(
            lambda ctx, row, a: lists.integrations(ctx, "flow", row.flow_id, **a)
        ),
        "endUsers": _listing(lambda ctx, row, a: lists.end_users_of_flow(ctx, row.flow_id, **a)),
        "runs": _listing(lambda ctx, row, a: lists.runs(ctx, "flow", row.flow_id, **a)),
    },
    # (summary, flow row)
    "FlowStats": {
        "integrationCount": Sync(lambda pair, _ctx: pair[0].integration_count),
        "statusCounts": Sync(lambda pair, _ctx: pair[0].status_counts),
        "failingCount": Sync(lambda pair, _ctx: pair[0].failing_count),
        "runsLast24h": Sync(lambda pair, _ctx: pair[0].runs_last_24h),
        "failedRunsLast24h": Sync(lambda pair, _ctx: pair[0].failed_runs_last_24h),
        "tasksConsumed": Sync(lambda pair, _ctx: pair[1].tasks_consumed),
        "timeline": Batch(_timeline),
    },
    "IntegrationStatusCount": {"status": item(0), "count": item(1)},
    # (hour, runs, failed runs, tasks)
    "StatsBucket": {
        "hour": Sync(lambda t, _ctx: iso(t[0])),
        "runs": item(1),
        "failedRuns": item(2),
        "tasks": item(3),
    },
    "Integration": {
        "id": Sync(lambda row, _ctx: v.global_id("Integration", row.integration_id)),
        "integrationId": col("integration_id"),
        "userId": col("user_id"),
        "userAuth": col("user_auth"),
        "createdAt": time_col("created_at"),
        "lastRunStart": time_col("last_run_start"),
        "lastRunStatus": col("last_run_status"),
        "status": col("status"),
        "pausedReason": Sync(lambda row, _ctx: v.paused_reason(row.paused_reason)),
        "tasksConsumed": col("tasks_consumed"),
        "url": Sync(lambda row, ctx: v.integration_url(ctx.links, ctx.account_id, row)),
        "flow": _loaded("flow", lambda row: row.flow_id),
        "statusHistory": _listing(
            lambda ctx, row, a: lists.status_history(ctx, row.integration_id, **a)
        ),
        "runs": _listing(
            lambda ctx, row, a: lists.runs(ctx, "integration", row.integration_id, **a)
        ),
    },
    "IntegrationStatusChange": {
        "at": time_col("at"),
        "from": Sync(lambda row, _ctx: row.from_status or None),
        "to": col("to_status"),
        "reason": Sync(lambda row, _ctx: row.reason or None),
        "actor": col("actor_name"),
        "actorKind": col("actor_kind"),
        "actorRole": Sync(lambda row, _ctx: row.actor_role or None),
    },
    "Run": {
        "id": Sync(lambda row, _ctx: v.global_id("Run", row.run_id)),
        "runId": col("run_id"),
        "triggerName": col("trigger_name"),
        "triggerType": col("trigger_type"),
        "startTime": time_col("start_time"),
        "endTime": time_col("end_time"),
        "duration": col("duration_ms"),
        "status": col("status"),
        "networkCode": col("network_code"),
        "networkCodeText": Sync(lambda row, _ctx: v.network_code_text(row.network_code)),
        "tasksConsumed": col("tasks_consumed"),
        "url": Sync(lambda row, ctx: v.run_url(ctx.links, ctx.account_id, row)),
        "logsUrl": Sync(lambda row, ctx: v.run_logs_url(ctx.links, ctx.account_id, row)),
        "integration": _loaded("integration", lambda row: row.integration_id),
        "triggerApp": _loaded("app", lambda row: row.trigger_app_id),
        "failedStep": _loaded("failed_step", lambda row: row.run_id),
        "steps": _listing(lambda ctx, row, a: lists.steps_of_run(ctx, row.run_id, **a)),
    },
    "Step": {
        "id": Sync(lambda row, _ctx: v.global_id("Step", row.step_id)),
        "stepId": col("step_id"),
        "position": col("position"),
        "name": col("name"),
        "startTime": time_col("start_time"),
        "endTime": time_col("end_time"),
        "duration": col("duration_ms"),
        "status": col("status"),
        "networkCode": col("network_code"),
        "networkCodeText": Sync(lambda row, _ctx: v.network_code_text(row.network_code)),
        "run": _loaded("run", lambda row: row.run_id),
        "app": _loaded("app", lambda row: row.app_id),
        "errorDocsUrl": Batch(_error_docs),
        "payload": Batch(_payload),
    },
    # The payload row serves the payload, its request and its response.
    "Payload": {
        "request": itself(),
        "response": Sync(lambda row, _ctx: row if p.has_response(row) else None),
        "objects": Sync(lambda row, _ctx: p.objects(row)),
    },
    "HttpRequest": {
        "method": col("request_method"),
        "url": col("request_url"),
        "headers": Sync(lambda row, _ctx: p.headers(row.request_headers)),
        "sizeBytes": col("request_size"),
        "truncated": Sync(lambda row, _ctx: bool(row.request_truncated)),
        "body": Sync(lambda row, ctx: p.charged(ctx.budget, row.request_body)),
        "bodyJson": Sync(
            lambda row, ctx: p.parse_json(
                p.charged(ctx.budget, row.request_body), row.request_truncated
            )
        ),
    },
    "HttpResponse": {
        "statusCode": col("response_status"),
        "headers": Sync(lambda row, _ctx: p.headers(row.response_headers)),
        "sizeBytes": Sync(lambda row, _ctx: p.response_size(row)),
        "truncated": Sync(lambda row, _ctx: p.response_truncated(row)),
        "bodyRaw": Sync(lambda row, ctx: p.charged(ctx.budget, row.response_body)),
        "bodyJson": Sync(
            lambda row, ctx: p.parse_json(
                p.charged(ctx.budget, row.response_body), p.response_truncated(row)
            )
        ),
    },
    "HttpHeader": {"name": item(0), "value": item(1)},
    "PayloadObject": {"key": item(0), "value": item(1)},
    "EndUser": {
        "id": Sync(lambda row, _ctx: v.global_id("EndUser", row.user_id)),
        "userId": col("user_id"),
        "tasksConsumed": col("tasks_consumed"),
        "taskLimit": col("task_limit"),
        "limitPeriodDays": col("period_days"),
        "limitResetsAt": time_col("period_end"),
        "tasksConsumedInPeriod": Sync(
            lambda row, _ctx: v.tasks_in_period(row.period_end, row.period_tasks, datetime.now(UTC))
        ),
        "tasksRemaining": Sync(
            lambda row, _ctx: v.tasks_remaining(
                row.task_limit,
                v.tasks_in_period(row.period_end, row.period_tasks, datetime.now(UTC)),
            )
        ),
        "status": Batch(_end_user_status),
        "integrations": _listing(
            lambda ctx, row, a: lists.integrations(ctx, "user", row.user_id, search=None, **a)
        ),
    },
    "PageInfo": {
        "hasNextPage": col("has_next_page"),
        "hasPreviousPage": col("has_previous_page"),
        "startCursor": col("start_cursor"),
        "endCursor": col("end_cursor"),
    },
}
for _name in ("Flow", "Integration", "Run", "Step", "EndUser", "IntegrationStatusChange"):
    FIELDS[f"{_name}Connection"] = CONNECTION
    FIELDS[f"{_name}Edge"] = EDGE
