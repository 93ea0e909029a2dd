"""Subscriptions (contract names): status changes of runs, steps and integrations, as events.

Each event carries an opaque ``cursor``: pass the last one received as ``after:`` to resume
without gap or duplicate (see ``gateway.live.streams``). The object of an event (``run``,
``step``, ``integration``) is loaded fresh for that event; ``status`` and ``previousStatus``
are those of the change itself, which a later change may have moved on since. Subscribers
alike (document, variables, role) share one execution of each event (``share``, see
``gateway.live.sharing``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Generic, TypeVar

import strawberry
from strawberry.permission import BasePermission

from gateway.auth.permissions import CanRead
from gateway.context import Context
from gateway.cursors import encode_event_cursor
from gateway.limits import ENGINE_ID_TEXT
from gateway.live.streams import REPLAY_MAX, ChangeStream, Delivery, Match, open_stream
from gateway.types.arguments import limited
from gateway.types.enums import IntegrationStatus, PauseReason, RunStatus, StepStatus
from gateway.types.integration import Integration
from gateway.types.run import Run
from gateway.types.scalars import DateTime
from gateway.types.step import Step

READ: list[type[BasePermission]] = [CanRead]
E = TypeVar("E")

_CURSOR = "The cursor of an event; resume after it."
_AFTER = (
    "The cursor of the last event received: first replays, in order, every matching change"
    f" since (at most {REPLAY_MAX} changes of the account; more, or a cursor older than the"
    " changes kept, is BAD_USER_INPUT: re-read the view), then continues live."
)
After = Annotated[str | None, strawberry.argument(description=_AFTER)]
FlowIdFilter = Annotated[str | None, limited(ENGINE_ID_TEXT, "Only this flow's changes.")]
IntegrationIdFilter = Annotated[
    str | None, limited(ENGINE_ID_TEXT, "Only this integration's changes.")
]
RunIdFilter = Annotated[str, limited(ENGINE_ID_TEXT, "The run whose steps to follow.")]


@strawberry.type(description="A run changed status.")
class RunStatusEvent:
    cursor: str = strawberry.field(description=_CURSOR)
    run: Run
    previous_status: RunStatus | None = strawberry.field(description="Null for a new run.")
    status: RunStatus
    occurred_at: DateTime
    share: strawberry.Private[tuple[str, int] | None] = None

    @classmethod
    def build(cls, ctx: Context, delivery: Delivery) -> RunStatusEvent:
        change = delivery.change
        return cls(
            cursor=encode_event_cursor(change.seq or 0),
            run=Run.builder(ctx)(delivery.row),
            previous_status=RunStatus(change.previous) if change.previous else None,
            status=RunStatus(change.status),
            occurred_at=DateTime(change.at),
            share=delivery.share,
        )


@strawberry.type(description="A step changed status.")
class StepStatusEvent:
    cursor: str = strawberry.field(description=_CURSOR)
    step: Step
    previous_status: StepStatus | None = strawberry.field(description="Null for a new step.")
    status: StepStatus
    occurred_at: DateTime
    share: strawberry.Private[tuple[str, int] | None] = None

    @classmethod
    def build(cls, _ctx: Context, delivery: Delivery) -> StepStatusEvent:
        change = delivery.change
        return cls(
            cursor=encode_event_cursor(change.seq or 0),
            step=Step.from_row(delivery.row),
            previous_status=StepStatus(change.previous) if change.previous else None,
            status=StepStatus(change.status),
            occurred_at=DateTime(change.at),
            share=delivery.share,
        )


@strawberry.type(description="An integration changed status.")
class IntegrationStatusEvent:
    cursor: str = strawberry.field(description=_CURSOR)
    integration: Integration
    previous_status: IntegrationStatus | None = strawberry.field(
        description="Null for a new integration."
    )
    status: IntegrationStatus
    reason: PauseReason | None = strawberry.field(description="Why it was paused.")
    occurred_at: DateTime
    share: strawberry.Private[tuple[str, int] | None] = None

    @classmethod
    def build(cls, ctx: Context, delivery: Delivery) -> IntegrationStatusEvent:
        change = delivery.change
        return cls(
            cursor=encode_event_cursor(change.seq or 0),
            integration=Integration.builder(ctx)(delivery.row),
            previous_status=IntegrationStatus(change.previous) if change.previous else None,
            status=IntegrationStatus(change.status),
            reason=PauseReason(change.reason) if change.reason else None,
            occurred_at=DateTime(change.at),
            share=delivery.share,
        )


class _Events(Generic[E]):
    """The events built from a stream's deliveries; closing it closes the stream."""

    def __init__(
        self, ctx: Context, stream: ChangeStream, build: Callable[[Context, Delivery], E]
    ) -> None:
        self._ctx, self._stream, self._build = ctx, stream, build

    def __aiter__(self) -> _Events[E]:
        return self

    async def __anext__(self) -> E:
        return self._build(self._ctx, await anext(self._stream))

    async def aclose(self) -> None:
        await self._stream.aclose()


async def _events(
    ctx: Context, match: Match, after: str | None, build: Callable[[Context, Delivery], E]
) -> AsyncIterator[E]:
    """Opens the stream before the first event is asked for, so that a bad ``after`` or a
    revoked key is an error of the subscribe request itself, not of a first event."""
    return _Events(ctx, await open_stream(ctx, match, after), build)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=READ,
        description="Runs of the account changing status (started, finished), in commit order.",
    )
    async def run_status_changed(
        self,
        info: strawberry.Info,
        flow_id: FlowIdFilter = None,
        integration_id: IntegrationIdFilter = None,
        status: Annotated[
            list[RunStatus] | None,
            strawberry.argument(description="Only changes to these statuses; empty means any."),
        ] = None,
        after: After = None,
    ) -> AsyncIterator[RunStatusEvent]:
        match = Match(
            "run",
            flow_id=flow_id,
            integration_id=integration_id,
            statuses=frozenset(s.value for s in status or ()),
        )
        return await _events(info.context, match, after, RunStatusEvent.build)

    @strawberry.subscription(
        permission_classes=READ, description="The steps of one run changing status."
    )
    async def step_status_changed(
        self, info: strawberry.Info, run_id: RunIdFilter, after: After = None
    ) -> AsyncIterator[StepStatusEvent]:
        match = Match("step", run_id=run_id)
        return await _events(info.context, match, after, StepStatusEvent.build)

    @strawberry.subscription(
        permission_classes=READ,
        description="Integrations of the account changing status (engine, admin actions,"
        " auto-pause, task limits).",
    )
    async def integration_status_changed(
        self, info: strawberry.Info, flow_id: FlowIdFilter = None, after: After = None
    ) -> AsyncIterator[IntegrationStatusEvent]:
        match = Match("integration", flow_id=flow_id)
        return await _events(info.context, match, after, IntegrationStatusEvent.build)
