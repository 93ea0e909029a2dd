from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gateway.present import values
from gateway.resolvers import lists
from gateway.types.arguments import RunSearch
from gateway.types.enums import IntegrationStatus, LastRunStatus, PauseReason
from gateway.types.node import Connection, Node, make_connection
from gateway.types.scalars import DateTime

if TYPE_CHECKING:
    from gateway.context import Context
    from gateway.types.filters import RunFilter, RunOrder
    from gateway.types.flow import Flow
    from gateway.types.history import IntegrationStatusChangeConnection
    from gateway.types.run import RunConnection

_FILTERS = "gateway.types.filters"


@strawberry.type(description="One end-user's instance of a Flow.")
class Integration(Node):
    integration_id: str
    user_id: str
    user_auth: str | None
    created_at: DateTime
    last_run_start: DateTime | None
    last_run_status: LastRunStatus
    status: IntegrationStatus
    paused_reason: PauseReason | None
    tasks_consumed: int
    url: str = strawberry.field(description="Deep link to this integration's runs screen.")
    _flow_id: strawberry.Private[str]

    @classmethod
    def builder(cls, ctx: Context) -> Callable[[Any], Integration]:
        account_id, links = ctx.account_id, ctx.links

        def build(row: Any) -> Integration:
            return cls(
                id=strawberry.ID(values.global_id("Integration", row.integration_id)),
                integration_id=row.integration_id,
                user_id=row.user_id,
                user_auth=row.user_auth,
                created_at=row.created_at,
                last_run_start=row.last_run_start,
                last_run_status=LastRunStatus(row.last_run_status),
                status=IntegrationStatus(row.status),
                paused_reason=PauseReason(row.paused_reason) if row.paused_reason else None,
                tasks_consumed=row.tasks_consumed,
                url=values.integration_url(links, account_id, row),
                _flow_id=row.flow_id,
            )

        return build

    @strawberry.field
    async def flow(
        self, info: strawberry.Info
    ) -> Annotated[Flow, strawberry.lazy("gateway.types.flow")]:
        from gateway.types.flow import Flow

        row = await info.context.loaders.flow.load(self._flow_id)
        return Flow.from_row(row)

    @strawberry.field(description="Newest first: when, from, to, why and who.")
    async def status_history(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Annotated[IntegrationStatusChangeConnection, strawberry.lazy("gateway.types.history")]:
        from gateway.types.history import (
            IntegrationStatusChange,
            IntegrationStatusChangeConnection,
        )

        listing = await lists.status_history(info.context, self.integration_id, first, after)
        return make_connection(
            IntegrationStatusChangeConnection, listing, IntegrationStatusChange.from_row
        )

    @strawberry.field(description="Newest first unless orderBy says otherwise.")
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
            info.context,
            "integration",
            self.integration_id,
            first,
            after,
            last,
            before,
            search,
            filter,
            order_by,
        )
        return make_connection(RunConnection, listing, Run.builder(info.context))


@strawberry.type
class IntegrationConnection(Connection[Integration]):
    pass
