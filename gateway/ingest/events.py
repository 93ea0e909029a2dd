"""The engine's events as the ingest core sees them: plain data, independent of GraphQL."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.ids import is_printable_text
from gateway.limits import (
    ENGINE_ID,
    ENGINE_ID_CHARS,
    ENGINE_ID_MAX,
    EVENT_ID_MAX,
    MAX_JSON_DEPTH,
    USER_TEXT_MAX,
)
from gateway.times import iso

KINDS = (
    "app_upserted",
    "flow_upserted",
    "integration_created",
    "integration_status_changed",
    "run_started",
    "step_started",
    "step_finished",
    "run_finished",
)

# An HTTP method is a token (RFC 9110); the column holds 16 characters.
HTTP_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}")
_ID_FIELDS = ("app_id", "flow_id", "integration_id", "run_id", "step_id", "trigger_app_id")


@dataclass(slots=True)
class Event:
    kind: str
    event_id: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


class EventError(Exception):
    """A single event that cannot be applied; the rest of the batch goes on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _printable(value: str, name: str, limit: int = USER_TEXT_MAX) -> None:
    if not is_printable_text(value, limit):
        raise EventError("BAD_USER_INPUT", f"{name} must be 1-{limit} printable characters.")


_TIME_FIELDS = (("start_time", "startTime"), ("end_time", "endTime"))


def valid_event_id(event_id: str) -> bool:
    return is_printable_text(event_id, EVENT_ID_MAX)


def json_deeper_than(value: Any, limit: int) -> bool:
    """Whether a JSON value nests more than ``limit`` arrays and objects; read without
    recursion, so any depth is measured."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack += [(child, depth + 1) for child in children]
    return False


def check_event(event: Event, latest: datetime) -> None:
    """Checks what the GraphQL input types cannot express; ``latest`` is the server clock plus
    the allowed skew, the latest acceptable time. Raises EventError."""
    if not valid_event_id(event.event_id):
        raise EventError(
            "BAD_USER_INPUT", f"eventId must be 1-{EVENT_ID_MAX} printable characters."
        )
    data = event.data
    for name in _ID_FIELDS:
        value = data.get(name)
        if value is not None and not ENGINE_ID.fullmatch(value):
            raise EventError(
                "BAD_USER_INPUT",
                f"{name} {value[:140]!r} is not 1-{ENGINE_ID_MAX} characters of"
                f" [{ENGINE_ID_CHARS}].",
            )
    if event.kind == "integration_created":
        _printable(data["user_id"], "userId")
        if data.get("user_auth") is not None:
            _printable(data["user_auth"], "userAuth")
    for name in ("name", "trigger_name"):
        if name in data:
            _printable(data[name], name)
    for name, label in (("icon_url", "iconUrl"), ("docs_url", "docsUrl")):
        if data.get(name):
            _printable(data[name], label, 2048)
    payload = data.get("payload")
    if payload is not None and not HTTP_METHOD.fullmatch(payload["request"]["method"]):
        raise EventError(
            "BAD_USER_INPUT", "payload.request.method must be an HTTP method of 1-16 characters."
        )
    for index, obj in enumerate((payload or {}).get("objects") or ()):
        if json_deeper_than(obj.get("value"), MAX_JSON_DEPTH):
            raise EventError(
                "BAD_USER_INPUT",
                f"payload.objects[{index}].value is nested more than {MAX_JSON_DEPTH} levels deep.",
            )
    if "position" in data and data["position"] < 0:
        raise EventError("BAD_USER_INPUT", f"position must be 0 or more, got {data['position']}.")
    code = data.get("network_code")
    if code is not None and not 100 <= code <= 599:
        raise EventError("BAD_USER_INPUT", f"networkCode must be 100-599, got {code}.")
    times: list[tuple[datetime | None, str]] = [(event.occurred_at, "occurredAt")]
    times += [(data.get(name), label) for name, label in _TIME_FIELDS]
    for value, label in times:
        if value is not None and value > latest:
            raise EventError(
                "BAD_USER_INPUT",
                f"{label} {iso(value)} is in the future: the latest accepted is {iso(latest)}"
                " (the server clock plus the allowed skew).",
            )
    start, end = data.get("start_time"), data.get("end_time")
    if start is not None and end is not None and end < start:
        raise EventError(
            "BAD_USER_INPUT", f"endTime {iso(end)} is before startTime {iso(start)}."
        )
    if event.kind in ("step_finished", "run_finished") and data["status"] == "RUNNING":
        raise EventError("BAD_USER_INPUT", "A finished event needs a final status, not RUNNING.")
    if event.kind == "integration_status_changed":
        paused = data["status"] == "PAUSED"
        if paused and data.get("reason") is None:
            raise EventError("BAD_USER_INPUT", "reason is required when the status is PAUSED.")
        if not paused and data.get("reason") is not None:
            raise EventError("BAD_USER_INPUT", "reason is only allowed when the status is PAUSED.")
