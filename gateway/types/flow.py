from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gateway.present.values import global_id
from gateway.resolvers import lists, stats
from gateway.types.arguments import IntegrationSearch, RunSearch
from gateway.types.enums import FlowStatus, IntegrationStatus
from gateway.types.node import Connection, Node, make_connection
from gateway.types.scalars import DateTime

if TYPE_CHECKING:
    from gateway.types.end_user import EndUserConnection
    from gateway.types.filters import IntegrationFilter, IntegrationOrder, RunFilter, RunOrder
    from gateway.types.integration import IntegrationConnection
    from gateway.types.run import RunConnection

_FILTERS = "gateway.types.filters"


@strawberry.type
class IntegrationStatusCount:
    status: IntegrationStatus
    count: int


@strawberry.type(description="Runs, failed runs and tasks of one hour (runs by start hour).")
class StatsBucket:
    hour: DateTime
    runs: int
    failed_runs: int
    tasks: int


@strawberry.type
class FlowStats:
    integration_count: int = strawberry.field(
        description='0 means "No integrations to see" (deleted ones count too).'
    )
    status_counts: list[IntegrationStatusCount]
    failing_count: int = strawberry.field(description="Integrations whose last run failed.")
    runs_last_24h: int = strawberry.field(
        description="Runs that started in the 24 hours up to now: a rolling window, not whole "
        "hours."
    )
    failed_runs_last_24h: int = strawberry.field(
        description="Those of runsLast24h that failed."
    )
    tasks_consumed: int
    _flow_id: strawberry.Private[str]

    @strawberry.field(description="Per hour, oldest first, ending with the current hour.")
    async def timeline(self, info: strawberry.Info, hours: int = 24) -> list[StatsBucket]:
        buckets = await stats.timeline(info.context, self._flow_id, hours)
        return [
            StatsBucket(hour=DateTime(h), runs=r, failed_runs=f, tasks=t) for h, r, f, t in buckets
        ]


@strawberry.type(description="An integration template the account built.")
class Flow(Node):
    flow_id: str
    name: str
    status: FlowStatus
    created_at: DateTime
    _tasks: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Flow:
        return cls(
            id=strawberry.ID(global_id("Flow", row.flow_id)),
            flow_id=row.flow_id,
            name=row.name,
            status=FlowStatus(row.status),
            created_at=row.created_at,
            _tasks=row.tasks_consumed,
        )

    @strawberry.field
    async def stats(self, info: strawberry.Info) -> FlowStats:
        summary = await stats.summary(info.context, self.flow_id)
        return FlowStats(
            integration_count=summary.integration_count,
            status_counts=[
                IntegrationStatusCount(status=IntegrationStatus(s), count=c)
                for s, c in summary.status_counts
            ],
            failing_count=summary.failing_count,
            runs_last_24h=summary.runs_last_24h,
            failed_runs_last_24h=summary.failed_runs_last_24h,
            tasks_consumed=self._tasks,
            _flow_id=self.flow_id,
        )

    @strawberry.field(description="Newest first unless orderBy says otherwise.")
    async def integrations(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        search: IntegrationSearch = None,
        filter: Annotated[IntegrationFilter, strawberry.lazy(_FILTERS)] | None = None,
        order_by: Annotated[IntegrationOrder, strawberry.lazy(_FILTERS)] | None = None,
    ) -> Annotated[IntegrationConnection, strawberry.lazy("gateway.types.integration")]:
        from gateway.types.integration import Integration, IntegrationConnection

        listing = await lists.integrations(
            info.context, "flow", self.flow_id, first, after, last, before, search, filter, order_by
        )
        return make_connection(IntegrationConnection, listing, Integration.builder(info.context))

    @strawberry.field(description="End-users with an integration of this flow, most recent first.")
    async def end_users(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Annotated[EndUserConnection, strawberry.lazy("gateway.types.end_user")]:
        from gateway.types.end_user import EndUser, EndUserConnection

        listing = await lists.end_users_of_flow(info.context, self.flow_id, first, after)
        return make_connection(EndUserConnection, listing, EndUser.from_row)

    @strawberry.field(description="Runs across the flow's integrations.")
    async def runs(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        search: RunSearch = None,
        filter: Annotated[RunFilter, strawberry.lazy(_FILTERS)] | None = None,
        order_by: Annotated[RunOrder, strawberry.lazy(_FILTERS)] | None = None,
    ) -> Annotated[RunConnection, strawberry.lazy("gateway.types.run")]:
        from gateway.types.run import Run, RunConnection

        listing = await lists.runs(
            info.context, "flow", self.flow_id, first, after, last, before, search, filter, order_by
        )
        return make_connection(RunConnection, listing, Run.builder(info.context))


@strawberry.type
class FlowConnection(Connection[Flow]):
    pass
