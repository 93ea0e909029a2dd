"""The engine's write path: ``ingestEvents`` and its inputs (contract names)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLResolveInfo, GraphQLSchema
from strawberry.scalars import JSON

from gateway.ingest.service import IngestOutcome
from gateway.resolvers import ingest
from gateway.types.enums import (
    FlowStatus,
    IntegrationStatus,
    PauseReason,
    RunStatus,
    StepStatus,
    TriggerType,
)
from gateway.types.scalars import DateTime


@strawberry.input
class HttpHeaderInput:
    name: str
    value: str


@strawberry.input
class HttpRequestInput:
    method: str
    url: str
    headers: list[HttpHeaderInput] = strawberry.field(default_factory=list)
    body: str | None = None


@strawberry.input
class HttpResponseInput:
    status_code: int
    headers: list[HttpHeaderInput] = strawberry.field(default_factory=list)
    body: str | None = None


@strawberry.input
class PayloadObjectInput:
    key: str
    value: JSON | None = None


@strawberry.input
class PayloadInput:
    request: HttpRequestInput
    response: HttpResponseInput | None = None
    objects: list[PayloadObjectInput] = strawberry.field(default_factory=list)


@strawberry.input
class AppUpsertedInput:
    event_id: str
    occurred_at: DateTime
    app_id: str
    name: str
    icon_url: str | None = None
    docs_url: str | None = None


@strawberry.input
class FlowUpsertedInput:
    event_id: str
    occurred_at: DateTime
    flow_id: str
    name: str
    status: FlowStatus


@strawberry.input(
    description="For an existing integration: the same flowId and userId are accepted and change "
    "nothing, another is CONFLICT; a userAuth fills a missing one, another is CONFLICT; the "
    "status is ignored (integrationStatusChanged moves it); createdAt is the earliest occurredAt."
)
class IntegrationCreatedInput:
    event_id: str
    occurred_at: DateTime
    integration_id: str
    flow_id: str
    user_id: str
    user_auth: str | None = None
    status: IntegrationStatus | None = strawberry.field(
        default=None, description="Defaults to ENABLED; createdAt is occurredAt."
    )


@strawberry.input
class IntegrationStatusChangedInput:
    event_id: str
    occurred_at: DateTime
    integration_id: str
    status: IntegrationStatus
    reason: PauseReason | None = strawberry.field(default=None, description="When pausing.")


@strawberry.input(
    description="For an existing run: the same values are accepted and change nothing (a run "
    "never goes back to RUNNING); another integrationId, startTime or trigger is CONFLICT."
)
class RunStartedInput:
    event_id: str
    occurred_at: DateTime
    run_id: str
    integration_id: str
    trigger_app_id: str
    trigger_name: str
    trigger_type: TriggerType
    start_time: DateTime


@strawberry.input
class StepStartedInput:
    event_id: str
    occurred_at: DateTime
    step_id: str
    run_id: str
    position: int = strawberry.field(description="0 or more; steps are listed by position.")
    app_id: str
    name: str
    start_time: DateTime


@strawberry.input
class StepFinishedInput:
    event_id: str
    occurred_at: DateTime
    step_id: str
    run_id: str
    position: int = strawberry.field(description="0 or more; steps are listed by position.")
    app_id: str
    name: str
    status: StepStatus
    start_time: DateTime | None = None
    end_time: DateTime
    network_code: int | None = None
    payload: PayloadInput | None = None


@strawberry.input(
    description="A run finishes once: the same status and endTime again are accepted and change "
    "nothing, another is CONFLICT; an endTime before the run's startTime is BAD_USER_INPUT. "
    "Before its runStarted it is kept and checked when the runStarted comes: if it ends before "
    "that startTime, it is rejected when in the same batch, or dropped (the run stays RUNNING) "
    "when an earlier batch accepted it."
)
class RunFinishedInput:
    event_id: str
    occurred_at: DateTime
    run_id: str
    status: RunStatus
    end_time: DateTime


@strawberry.input(one_of=True, description="Exactly one member is set.")
class IngestEvent:
    app_upserted: AppUpsertedInput | None = strawberry.UNSET
    flow_upserted: FlowUpsertedInput | None = strawberry.UNSET
    integration_created: IntegrationCreatedInput | None = strawberry.UNSET
    integration_status_changed: IntegrationStatusChangedInput | None = strawberry.UNSET
    run_started: RunStartedInput | None = strawberry.UNSET
    step_started: StepStartedInput | None = strawberry.UNSET
    step_finished: StepFinishedInput | None = strawberry.UNSET
    run_finished: RunFinishedInput | None = strawberry.UNSET


@strawberry.type
class RejectedEvent:
    index: int
    event_id: str | None
    code: str
    message: str


@strawberry.type
class IngestResult:
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]


def _result(outcome: IngestOutcome) -> IngestResult:
    return IngestResult(
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        rejected=[
            RejectedEvent(index=r.index, event_id=r.event_id, code=r.code, message=r.message)
            for r in outcome.rejected
        ],
    )


@strawberry.type
class IngestMutations:
    @strawberry.mutation(
        description="Applies a batch of up to 1,000 engine events; each invalid one is rejected "
        "with a code and a reason, the rest is applied. Times (occurredAt, startTime, endTime) "
        "more than the allowed skew (default 1 h) ahead of the server clock are BAD_USER_INPUT."
    )
    async def ingest_events(self, info: strawberry.Info, events: list[IngestEvent]) -> IngestResult:
        # Declares the field; use_coerced_ingest_input() makes graphql-core call
        # resolve_ingest_events() with the coerced input instead.
        raise NotImplementedError


async def resolve_ingest_events(
    _root: Any, info: GraphQLResolveInfo, events: list[dict[str, Any]]
) -> IngestResult:
    return _result(await ingest.ingest_events(info.context, events))


def use_coerced_ingest_input(graphql_schema: GraphQLSchema) -> None:
    mutation = graphql_schema.mutation_type
    assert mutation is not None
    mutation.fields["ingestEvents"].resolve = resolve_ingest_events
