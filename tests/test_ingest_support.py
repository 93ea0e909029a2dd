"""Helpers shared by the ingest tests (this module holds no tests of its own).

Times: ``tests.events`` counts seconds from its fixed ``T0``; :data:`RECENT` is the offset of a
moment three hours before the current hour, so runs built with ``RECENT + n`` land inside
``Flow.stats.timeline(hours: 24)``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.ingest.events import Event
from gateway.ingest.service import IngestOutcome, ingest
from gateway.services import Services
from gateway.types.scalars import parse_datetime
from tests import events as e
from tests.conftest import Api, api_client

_NOW_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
RECENT = (_NOW_HOUR - timedelta(hours=3) - e.T0).total_seconds()

_DATETIME_FIELDS = {"occurredAt", "startTime", "endTime"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_event(item: dict[str, Any]) -> Event:
    """The ingest core's Event for one GraphQL-shaped event dict of ``tests.events``."""
    ((kind, fields),) = item.items()
    data: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _DATETIME_FIELDS and value is not None:
            data[_snake(name)] = parse_datetime(value)
        elif name == "payload":
            payload = _plain(value)
            for obj, raw in zip(
                payload.get("objects") or [], value.get("objects") or [], strict=True
            ):
                obj["value"] = raw.get("value")  # JSON values keep their keys
            data["payload"] = payload
        else:
            data[_snake(name)] = value
    event_id = data.pop("event_id")
    occurred_at = data.pop("occurred_at")
    return Event(_snake(kind), event_id, occurred_at, data)


async def ingest_direct(
    services: Services, account_id: str, items: list[dict[str, Any]]
) -> IngestOutcome:
    """Ingest without HTTP or GraphQL: the service call the resolver makes."""
    return await ingest(
        services.db,
        account_id,
        [to_event(i) for i in items],
        redactor=services.redactor,
        body_limit=services.settings.payload_body_limit_bytes,
        max_future_skew=timedelta(seconds=services.settings.ingest_max_future_skew_seconds),
    )


async def send(api: Api, items: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(e.INGEST, {"events": items}))["ingestEvents"]
    return result


# A client of another account (or role) than the test's fixtures.
client = api_client


STATE = """
query State($runId: String!, $integrationId: String!, $flowId: String!) {
  run(runId: $runId) {
    status startTime endTime duration networkCode tasksConsumed
    steps { nodes { stepId position status startTime endTime duration networkCode } }
  }
  integration(integrationId: $integrationId) {
    status lastRunStart lastRunStatus tasksConsumed
  }
  flow(flowId: $flowId) {
    stats { tasksConsumed failingCount timeline(hours: 24) { hour runs failedRuns tasks } }
  }
}
"""


async def state(
    api: Api, run_id: str = "run-1", integration_id: str = "int-1", flow_id: str = "flow-1"
) -> dict[str, Any]:
    """What the screens show of one run, its integration and flow (non-empty buckets only)."""
    data = await api.data(
        STATE, {"runId": run_id, "integrationId": integration_id, "flowId": flow_id}
    )
    stats = data["flow"]["stats"]
    stats["timeline"] = [b for b in stats["timeline"] if b["runs"] or b["failedRuns"] or b["tasks"]]
    return data


def with_id(item: dict[str, Any], event_id: str) -> dict[str, Any]:
    """The event with another eventId."""
    ((kind, fields),) = item.items()
    return {kind: {**fields, "eventId": event_id}}


def event_id(item: dict[str, Any]) -> str:
    ((fields),) = item.values()
    return str(fields["eventId"])
