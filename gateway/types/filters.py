"""Filter and order inputs (contract names)."""

from __future__ import annotations

import strawberry

from gateway.types.arguments import NAME_CONTAINS
from gateway.types.enums import (
    FlowStatus,
    IntegrationOrderField,
    IntegrationStatus,
    LastRunStatus,
    NetworkCodeClass,
    OrderDirection,
    RunOrderField,
    RunStatus,
    StepStatus,
    TriggerType,
)
from gateway.types.scalars import DateTime


@strawberry.input(
    description="Values within a field are OR'd, fields are AND'd; ranges are [after, before)."
)
class IntegrationFilter:
    status: list[IntegrationStatus] | None = None
    last_run_status: list[LastRunStatus] | None = None
    created_after: DateTime | None = None
    created_before: DateTime | None = None
    last_run_after: DateTime | None = None
    last_run_before: DateTime | None = None


@strawberry.input(description="networkCode and networkCodeClass together are a union.")
class RunFilter:
    status: list[RunStatus] | None = None
    started_after: DateTime | None = None
    started_before: DateTime | None = None
    network_code: list[int] | None = None
    network_code_class: list[NetworkCodeClass] | None = None
    trigger_type: list[TriggerType] | None = None


@strawberry.input
class StepFilter:
    status: list[StepStatus] | None = None


@strawberry.input
class FlowFilter:
    status: FlowStatus | None = None
    name_contains: str | None = NAME_CONTAINS


@strawberry.input
class IntegrationOrder:
    field: IntegrationOrderField = IntegrationOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC


@strawberry.input(description="Null durations (running runs) sort last in both directions.")
class RunOrder:
    field: RunOrderField = RunOrderField.START_TIME
    direction: OrderDirection = OrderDirection.DESC

