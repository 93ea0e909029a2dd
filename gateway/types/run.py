from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gateway.present import values
from gateway.resolvers import lists
from gateway.types.app import App
from gateway.types.enums import RunStatus, TriggerType
from gateway.types.node import Connection, Node, make_connection
from gateway.types.scalars import DateTime

if TYPE_CHECKING:
    from gateway.context import Context
    from gateway.types.filters import StepFilter
    from gateway.types.integration import Integration
    from gateway.types.step import Step, StepConnection


@strawberry.type(description="One execution of an integration.")
class Run(Node):
    run_id: str
    trigger_name: str
    trigger_type: TriggerType
    start_time: DateTime
    end_time: DateTime | None
    duration: int | None = strawberry.field(description="Milliseconds; null while running.")
    status: RunStatus
    network_code: int | None = strawberry.field(
        description="HTTP code of the run's last step that ran (OK or FAILED); null when that "
        "step got no response (a timeout, a refused connection)."
    )
    network_code_text: str | None = strawberry.field(description='For example "404 Not Found".')
    tasks_consumed: int
    url: str = strawberry.field(description='The shareable "copy link" of the run.')
    logs_url: str | None
    _integration_id: strawberry.Private[str]
    _trigger_app_id: strawberry.Private[str]

    @classmethod
    def builder(cls, ctx: Context) -> Callable[[Any], Run]:
        account_id, links = ctx.account_id, ctx.links

        def build(row: Any) -> Run:
            return cls(
                id=strawberry.ID(values.global_id("Run", row.run_id)),
                run_id=row.run_id,
                trigger_name=row.trigger_name,
                trigger_type=TriggerType(row.trigger_type),
                start_time=row.start_time,
                end_time=row.end_time,
                duration=row.duration_ms,
                status=RunStatus(row.status),
                network_code=row.network_code,
                network_code_text=values.network_code_text(row.network_code),
                tasks_consumed=row.tasks_consumed,
                url=values.run_url(links, account_id, row),
                logs_url=values.run_logs_url(links, account_id, row),
                _integration_id=row.integration_id,
                _trigger_app_id=row.trigger_app_id,
            )

        return build

    @strawberry.field
    async def integration(
        self, info: strawberry.Info
    ) -> Annotated[Integration, strawberry.lazy("gateway.types.integration")]:
        from gateway.types.integration import Integration

        row = await info.context.loaders.integration.load(self._integration_id)
        return Integration.builder(info.context)(row)

    @strawberry.field
    async def trigger_app(self, info: strawberry.Info) -> App:
        return App.from_row(await info.context.loaders.app.load(self._trigger_app_id))

    @strawberry.field(description="The first failed step, for diagnosis in one hop.")
    async def failed_step(
        self, info: strawberry.Info
    ) -> Annotated[Step, strawberry.lazy("gateway.types.step")] | None:
        from gateway.types.step import Step

        row = await info.context.loaders.failed_step.load(self.run_id)
        return None if row is None else Step.from_row(row)

    @strawberry.field(description="In position order.")
    async def steps(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        filter: Annotated[StepFilter, strawberry.lazy("gateway.types.filters")] | None = None,
    ) -> Annotated[StepConnection, strawberry.lazy("gateway.types.step")]:
        from gateway.types.step import Step, StepConnection

        listing = await lists.steps_of_run(info.context, self.run_id, first, after, filter)
        return make_connection(StepConnection, listing, Step.from_row)


@strawberry.type
class RunConnection(Connection[Run]):
    pass
