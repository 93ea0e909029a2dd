"""The webhook's JSON (SPEC §4): ``{type, occurredAt, flow, integration, run, failedStep, url,
logsUrl}``, plus the fold (``count``, ``firstOccurredAt``, ``lastOccurredAt``) and, for task-limit
notices, ``endUser``. Built once per notification, from what is stored when it is first claimed;
the bytes are kept and sent on every attempt."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import reads, rows
from gateway.links import Links
from gateway.notifications import notices as n
from gateway.present.values import network_code_text
from gateway.times import iso

Row = dict[str, Any]

# The failed step's response body is quoted up to this many characters.
ERROR_EXCERPT_CHARS = 1024


def _when(value: Any) -> str | None:
    return None if value is None else iso(value)


@dataclass
class _Loaded:
    """The rows the bodies of one account's notifications are built from."""

    integrations: dict[str, Row]
    flows: dict[str, Row]
    runs: dict[str, Row]
    failed_steps: dict[str, Any]
    apps: dict[str, Row]
    payloads: dict[str, Row]


async def _load(conn: AsyncConnection, account_id: str, notifications: list[Any]) -> _Loaded:
    integrations = await rows.load_by_key(
        conn, "integrations", account_id, {r.integration_id for r in notifications} - {None}
    )
    flow_ids = {r.flow_id for r in notifications} | {i["flow_id"] for i in integrations.values()}
    flows = await rows.load_by_key(conn, "flows", account_id, flow_ids - {None})
    runs = await rows.load_by_key(
        conn, "runs", account_id, {r.run_id for r in notifications} - {None}
    )
    failed_runs = [r.run_id for r in notifications if r.type == n.RUN_FAILED and r.run_id]
    failed = await reads.failed_step_by_run(conn, account_id, failed_runs) if failed_runs else {}
    apps = await rows.load_by_key(conn, "apps", account_id, {s.app_id for s in failed.values()})
    payloads = await rows.load_by_key(
        conn, "payloads", account_id, {s.step_id for s in failed.values()}
    )
    return _Loaded(integrations, flows, runs, failed, apps, payloads)


def _failed_step(loaded: _Loaded, run_id: str) -> dict[str, Any] | None:
    step = loaded.failed_steps.get(run_id)
    if step is None:
        return None
    app = loaded.apps.get(step.app_id)
    payload = loaded.payloads.get(step.step_id)
    body = payload.get("response_body") if payload else None
    return {
        "stepId": step.step_id,
        "position": step.position,
        "name": step.name,
        "app": {"appId": step.app_id, "name": app["name"] if app else step.app_id},
        "status": step.status,
        "networkCode": step.network_code,
        "networkCodeText": network_code_text(step.network_code),
        "errorExcerpt": body[:ERROR_EXCERPT_CHARS] if body else None,
        "errorExcerptTruncated": bool(body and len(body) > ERROR_EXCERPT_CHARS),
        "errorDocsUrl": app["docs_url"] if app else None,
    }


async def build_bodies(
    conn: AsyncConnection, notifications: list[Any], links: Links
) -> dict[int, bytes]:
    """The body of each notification, by notification_id: a few statements per account,
    whatever the number of notifications."""
    by_account: dict[str, list[Any]] = defaultdict(list)
    for row in notifications:
        by_account[row.account_id].append(row)
    out: dict[int, bytes] = {}
    for account_id, mine in by_account.items():
        loaded = await _load(conn, account_id, mine)
        for row in mine:
            out[row.notification_id] = orjson.dumps(_body(row, loaded, links))
    return out


def _body(row: Any, loaded: _Loaded, links: Links) -> dict[str, Any]:
    account_id = row.account_id
    body: dict[str, Any] = {
        "type": row.type,
        "occurredAt": iso(row.last_occurred_at),
        "count": row.count,
        "firstOccurredAt": iso(row.first_occurred_at),
        "lastOccurredAt": iso(row.last_occurred_at),
        "flow": None,
        "integration": None,
        "run": None,
        "failedStep": None,
        "url": None,
        "logsUrl": None,
    }
    if row.type == n.TEST:
        body["test"] = True
    integration = loaded.integrations.get(row.integration_id) if row.integration_id else None
    flow_id = row.flow_id or (integration["flow_id"] if integration else None)
    if flow_id is not None:
        flow = loaded.flows.get(flow_id)
        body["flow"] = {"flowId": flow_id, "name": flow["name"] if flow else None}
    if integration is not None:
        url = links.integration(account_id, integration["flow_id"], integration["integration_id"])
        body["integration"] = {
            "integrationId": integration["integration_id"],
            "userId": integration["user_id"],
            "userAuth": integration["user_auth"],
            "status": integration["status"],
            "pausedReason": integration["paused_reason"],
            "url": url,
        }
        body["url"] = url
    run = loaded.runs.get(row.run_id) if row.run_id and integration is not None else None
    if run is not None:
        ids = (account_id, run["flow_id"], run["integration_id"], run["run_id"])
        body["run"] = {
            "runId": run["run_id"],
            "status": run["status"],
            "startTime": _when(run["start_time"]),
            "endTime": _when(run["end_time"]),
            "duration": run["duration_ms"],
            "networkCode": run["network_code"],
            "networkCodeText": network_code_text(run["network_code"]),
            "url": links.run(*ids),
            "logsUrl": links.logs(*ids),
        }
        body["url"] = links.run(*ids)
        body["logsUrl"] = links.logs(*ids)
        if row.type == n.RUN_FAILED:
            body["failedStep"] = _failed_step(loaded, row.run_id)
    if row.type in (n.INTEGRATION_PAUSED, n.INTEGRATION_FAILED_TO_INITIALIZE):
        body["status"] = row.facts.get("status")
        body["reason"] = row.facts.get("reason")
    if row.user_id is not None:
        facts = row.facts
        body["endUser"] = {
            "userId": row.user_id,
            "percent": facts.get("percent"),
            "taskLimit": facts.get("taskLimit"),
            "tasksConsumedInPeriod": facts.get("periodTasks"),
            "periodStart": facts.get("periodStart"),
            "limitResetsAt": facts.get("periodEnd"),
        }
    return body
