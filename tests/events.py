"""Small builders of ingest events for tests, and the mutation that sends them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

INGEST = """
mutation Ingest($events: [IngestEvent!]!) {
  ingestEvents(events: $events) { accepted duplicates rejected { index eventId code message } }
}
"""

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def at(seconds: float = 0) -> str:
    moment = T0 + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ev(kind: str, t: float = 0, event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return {kind: {"eventId": event_id or f"e{next(_ids)}", "occurredAt": at(t), **fields}}


def flow(
    flow_id: str = "flow-1", name: str = "Sync contacts", status: str = "PUBLISHED", t: float = 0
) -> dict[str, Any]:
    return ev("flowUpserted", t, flowId=flow_id, name=name, status=status)


def integration(
    integration_id: str,
    flow_id: str = "flow-1",
    user_id: str = "user@example.com",
    t: float = 1,
    **extra: Any,
) -> dict[str, Any]:
    return ev(
        "integrationCreated",
        t,
        integrationId=integration_id,
        flowId=flow_id,
        userId=user_id,
        **extra,
    )


def run_started(
    run_id: str,
    integration_id: str,
    start: float = 10,
    app: str = "slack",
    trigger_type: str = "WEBHOOK",
) -> dict[str, Any]:
    return ev(
        "runStarted",
        start,
        runId=run_id,
        integrationId=integration_id,
        triggerAppId=app,
        triggerName="New message",
        triggerType=trigger_type,
        startTime=at(start),
    )


def step_started(step_id: str, run_id: str, position: int, start: float) -> dict[str, Any]:
    return ev(
        "stepStarted",
        start,
        stepId=step_id,
        runId=run_id,
        position=position,
        appId="hubspot",
        name=f"Step {position}",
        startTime=at(start),
    )


def step_finished(
    step_id: str,
    run_id: str,
    position: int,
    start: float,
    end: float,
    status: str = "OK",
    code: int | None = 200,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        stepId=step_id,
        runId=run_id,
        position=position,
        appId="hubspot",
        name=f"Step {position}",
        status=status,
        startTime=at(start),
        endTime=at(end),
        networkCode=code,
    )
    if payload is not None:
        fields["payload"] = payload
    return ev("stepFinished", end, **fields)


def run_finished(run_id: str, status: str, end: float) -> dict[str, Any]:
    return ev("runFinished", end, runId=run_id, status=status, endTime=at(end))
