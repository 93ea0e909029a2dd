"""Builders of the engine's events for the seed generators (``demo`` and ``synthetic``).

Everything here produces plain, JSON-ready ``IngestEvent`` dicts: one key (the ``@oneOf``
member name) whose value holds the member's fields, datetimes as RFC 3339 strings in UTC with
milliseconds and a ``Z`` suffix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.ids import is_printable_text
from gateway.limits import ENGINE_ID, MAX_INGEST_BATCH, USER_TEXT_MAX

Event = dict[str, Any]
JSON = Any

ID_RE = ENGINE_ID

INTEGRATION_STATUSES = (
    "INITIALIZING",
    "ENABLED",
    "DISABLED",
    "PAUSED",
    "FAILED_TO_INITIALIZE",
    "DELETED",
)
PAUSE_REASONS = ("TOO_MANY_ERRORS", "BILLING")
NON_RECEIVING_STATUSES = frozenset({"DISABLED", "PAUSED", "DELETED"})
TRIGGER_TYPES = ("WEBHOOK", "POLL", "SCHEDULE", "MANUAL")
FLOW_STATUSES = ("PUBLISHED", "DRAFT")
STEP_STATUSES = ("OK", "FAILED", "SKIPPED")
RUN_STATUSES = ("OK", "FAILED")
CLIENT_ERROR_CODES = (400, 401, 403, 404, 422, 429)
SERVER_ERROR_CODES = (500, 502, 503)
ERROR_CODES = CLIENT_ERROR_CODES + SERVER_ERROR_CODES
MAX_BATCH = MAX_INGEST_BATCH

MEMBERS = (
    "appUpserted",
    "flowUpserted",
    "integrationCreated",
    "integrationStatusChanged",
    "runStarted",
    "stepStarted",
    "stepFinished",
    "runFinished",
)


# --------------------------------------------------------------------------- time


def iso(dt: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``: ``2026-11-29T07:46:40.123Z``.

    A naive datetime is taken to be UTC already.
    """
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds") + "Z"


def utc_ms(dt: datetime) -> datetime:
    """``dt`` in UTC, truncated to whole milliseconds (naive = UTC)."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond - dt.microsecond % 1000)


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch."""
    dt = utc_ms(dt)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(value: datetime | str) -> str:
    return value if isinstance(value, str) else iso(value)


# ------------------------------------------------------------------ ids, batches


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid engine ID (``gateway.limits.ENGINE_ID``)."""
    if not isinstance(value, str) or ID_RE.fullmatch(value) is None:
        raise ValueError(f"invalid {what}: {value!r}")
    return value


class EventIds:
    """Deterministic, unique event ids: ``evt-000001``, ``evt-000002``..."""

    def __init__(self, prefix: str = "evt", width: int = 6) -> None:
        check_id(f"{prefix}-0", "event id prefix")
        self.prefix = prefix
        self.width = width
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count:0{self.width}d}"

    __call__ = next


def batched(events: Iterable[Event], size: int = MAX_BATCH) -> Iterator[list[Event]]:
    """Group ``events`` into lists of at most ``size`` (the mutation takes 1,000)."""
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH}")
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def member_of(event: Event) -> str:
    """The ``@oneOf`` member name of an event (raises unless exactly one key)."""
    if len(event) != 1:
        raise ValueError(f"an IngestEvent has exactly one member, got {sorted(event)}")
    return next(iter(event))


# ------------------------------------------------------------------ event builders


def app_upserted(
    event_id: str,
    *,
    occurred_at: datetime | str,
    app_id: str,
    name: str,
    icon_url: str | None = None,
    docs_url: str | None = None,
) -> Event:
    return {
        "appUpserted": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": _ts(occurred_at),
            "appId": check_id(app_id, "appId"),
            "name": name,
            "iconUrl": icon_url,
            "docsUrl": docs_url,
        }
    }


def flow_upserted(
    event_id: str,
    *,
    occurred_at: datetime | str,
    flow_id: str,
    name: str,
    status: str = "PUBLISHED",
) -> Event:
    if status not in FLOW_STATUSES:
        raise ValueError(f"invalid flow status {status!r}")
    return {
        "flowUpserted": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": _ts(occurred_at),
            "flowId": check_id(flow_id, "flowId"),
            "name": name,
            "status": status,
        }
    }


def integration_created(
    event_id: str,
    *,
    occurred_at: datetime | str,
    integration_id: str,
    flow_id: str,
    user_id: str,
    user_auth: str | None = None,
    status: str | None = None,
) -> Event:
    """``occurred_at`` is the integration's createdAt; ``status`` None = ENABLED."""
    fields: dict[str, Any] = {
        "eventId": check_id(event_id, "eventId"),
        "occurredAt": _ts(occurred_at),
        "integrationId": check_id(integration_id, "integrationId"),
        "flowId": check_id(flow_id, "flowId"),
        "userId": _check_text(user_id, "userId"),
        "userAuth": None if user_auth is None else _check_text(user_auth, "userAuth"),
    }
    if status is not None:
        if status not in INTEGRATION_STATUSES:
            raise ValueError(f"invalid integration status {status!r}")
        fields["status"] = status
    return {"integrationCreated": fields}


def integration_status_changed(
    event_id: str,
    *,
    occurred_at: datetime | str,
    integration_id: str,
    status: str,
    reason: str | None = None,
) -> Event:
    if status not in INTEGRATION_STATUSES:
        raise ValueError(f"invalid integration status {status!r}")
    if (status == "PAUSED") != (reason is not None):
        raise ValueError("a reason is given with PAUSED, and only with PAUSED")
    if reason is not None and reason not in PAUSE_REASONS:
        raise ValueError(f"invalid pause reason {reason!r}")
    fields: dict[str, Any] = {
        "eventId": check_id(event_id, "eventId"),
        "occurredAt": _ts(occurred_at),
        "integrationId": check_id(integration_id, "integrationId"),
        "status": status,
    }
    if reason is not None:
        fields["reason"] = reason
    return {"integrationStatusChanged": fields}


def run_started(
    event_id: str,
    *,
    run_id: str,
    integration_id: str,
    trigger_app_id: str,
    trigger_name: str,
    trigger_type: str,
    start_time: datetime | str,
    occurred_at: datetime | str | None = None,
) -> Event:
    if trigger_type not in TRIGGER_TYPES:
        raise ValueError(f"invalid trigger type {trigger_type!r}")
    start = _ts(start_time)
    return {
        "runStarted": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": start if occurred_at is None else _ts(occurred_at),
            "runId": check_id(run_id, "runId"),
            "integrationId": check_id(integration_id, "integrationId"),
            "triggerAppId": check_id(trigger_app_id, "triggerAppId"),
            "triggerName": trigger_name,
            "triggerType": trigger_type,
            "startTime": start,
        }
    }


def step_started(
    event_id: str,
    *,
    step_id: str,
    run_id: str,
    position: int,
    app_id: str,
    name: str,
    start_time: datetime | str,
    occurred_at: datetime | str | None = None,
) -> Event:
    start = _ts(start_time)
    return {
        "stepStarted": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": start if occurred_at is None else _ts(occurred_at),
            "stepId": check_id(step_id, "stepId"),
            "runId": check_id(run_id, "runId"),
            "position": _check_position(position),
            "appId": check_id(app_id, "appId"),
            "name": name,
            "startTime": start,
        }
    }


def step_finished(
    event_id: str,
    *,
    step_id: str,
    run_id: str,
    position: int,
    app_id: str,
    name: str,
    status: str,
    start_time: datetime | str,
    end_time: datetime | str,
    payload: dict[str, Any] | None = None,
    network_code: int | None = None,
    occurred_at: datetime | str | None = None,
) -> Event:
    """``payload`` None (omitted) suits a SKIPPED step, which sent nothing."""
    if status not in STEP_STATUSES:
        raise ValueError(f"invalid step status {status!r}")
    end = _ts(end_time)
    fields: dict[str, Any] = {
        "eventId": check_id(event_id, "eventId"),
        "occurredAt": end if occurred_at is None else _ts(occurred_at),
        "stepId": check_id(step_id, "stepId"),
        "runId": check_id(run_id, "runId"),
        "position": _check_position(position),
        "appId": check_id(app_id, "appId"),
        "name": name,
        "status": status,
        "startTime": _ts(start_time),
        "endTime": end,
    }
    if network_code is not None:
        fields["networkCode"] = network_code
    if payload is not None:
        fields["payload"] = payload
    return {"stepFinished": fields}


def run_finished(
    event_id: str,
    *,
    run_id: str,
    status: str,
    end_time: datetime | str,
    occurred_at: datetime | str | None = None,
) -> Event:
    if status not in RUN_STATUSES:
        raise ValueError(f"invalid run status {status!r}")
    end = _ts(end_time)
    return {
        "runFinished": {
            "eventId": check_id(event_id, "eventId"),
            "occurredAt": end if occurred_at is None else _ts(occurred_at),
            "runId": check_id(run_id, "runId"),
            "status": status,
            "endTime": end,
        }
    }


def _check_text(value: str, what: str) -> str:
    if not is_printable_text(value, USER_TEXT_MAX):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _check_position(position: int) -> int:
    if position < 1:
        raise ValueError("step positions are 1-based")
    return position
