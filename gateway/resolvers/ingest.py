"""From GraphQL input objects to the ingest core's plain events."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from gateway.context import Context
from gateway.errors import BadUserInput
from gateway.ingest.events import KINDS, Event
from gateway.ingest.service import MAX_BATCH, IngestOutcome, ingest


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_event(item: Any) -> Event:
    for kind in KINDS:
        member = getattr(item, kind, None)
        if member:
            data = _plain(member)
            return Event(kind, data.pop("event_id"), data.pop("occurred_at"), data)
    raise BadUserInput("An IngestEvent must set exactly one member.")


async def ingest_events(ctx: Context, items: list[Any]) -> IngestOutcome:
    if len(items) > MAX_BATCH:
        raise BadUserInput(f"A batch holds at most {MAX_BATCH} events, got {len(items)}.")
    services = ctx.services
    outcome = await ingest(
        services.db,
        ctx.account_id,
        [to_event(item) for item in items],
        redactor=services.redactor,
        body_limit=services.settings.payload_body_limit_bytes,
    )
    return outcome
