"""The webhook's JSON (SPEC §4): ``{type, occurredAt, flow, integration, run, failedStep, url,
logsUrl}``, plus the fold (``count``, ``firstOccurredAt``, ``lastOccurredAt``) and, for task-limit
notices, ``endUser``. Built once per notification, from what is stored when it is first claimed;
the bytes are kept and sent on every attempt."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import reads, rows
from gateway.links import Links
from gateway.notifications import notices as n
from gateway.times import iso
from gateway.types.run import network_code_text

# The failed step's response body is quoted up to this many characters.
ERROR_EXCERPT_CHARS = 1024


def _when(value: Any) -> str | None:
    return None if value is None else iso(value)


async def _failed_step(conn: AsyncConnection, account_id: str, run_id: str) -> Any:
    step = (await reads.failed_step_by_run(conn, account_id, [run_id])).get(run_id)
    if step is None:
        return None
    app = (await rows.load_by_key(conn, "apps", account_id, [step.app_id])).get(step.app_id)
    payload = (await rows.load_by_key(conn, "payloads", account_id, [step.step_id])).get(
        step.step_id
    )
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


async def build_body(conn: AsyncConnection, row: Any, links: Links) -> bytes:
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
    integration = None
    if row.integration_id is not None:
        integration = (
            await rows.load_by_key(conn, "integrations", account_id, [row.integration_id])
        ).get(row.integration_id)
    flow_id = row.flow_id or (integration["flow_id"] if integration else None)
    if flow_id is not None:
        flow = (await rows.load_by_key(conn, "flows", account_id, [flow_id])).get(flow_id)
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
    if row.run_id is not None and integration is not None:
        run = (await rows.load_by_key(conn, "runs", account_id, [row.run_id])).get(row.run_id)
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
                body["failedStep"] = await _failed_step(conn, account_id, row.run_id)
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
    return orjson.dumps(body)
