"""End-users: the account's own users, their tasks and task limits."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gateway.actions.task_limits import end_user_status
from gateway.present import values
from gateway.resolvers import lists
from gateway.types.node import Connection, Node, make_connection
from gateway.types.scalars import DateTime

if TYPE_CHECKING:
    from gateway.types.filters import IntegrationFilter, IntegrationOrder
    from gateway.types.integration import IntegrationConnection

_FILTERS = "gateway.types.filters"


@strawberry.enum
class EndUserStatus(Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    PAUSED = "PAUSED"


@strawberry.type(description="One of the account's own users, across flows.")
class EndUser(Node):
    user_id: str
    tasks_consumed: int = strawberry.field(description="All time.")
    task_limit: int | None
    limit_period_days: int | None
    limit_resets_at: DateTime | None = strawberry.field(
        description="When the current period of the limit ends."
    )
    _period_tasks: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> EndUser:
        return cls(
            id=strawberry.ID(values.global_id("EndUser", row.user_id)),
            user_id=row.user_id,
            tasks_consumed=row.tasks_consumed,
            task_limit=row.task_limit,
            limit_period_days=row.period_days,
            limit_resets_at=row.period_end,
            _period_tasks=row.period_tasks,
        )

    @strawberry.field(
        description="Tasks counted in the limit's current period (by when they "
        "were ingested); 0 without a limit."
    )
    def tasks_consumed_in_period(self) -> int:
        return values.tasks_in_period(self.limit_resets_at, self._period_tasks, datetime.now(UTC))

    @strawberry.field(description="Null without a limit.")
    def tasks_remaining(self) -> int | None:
        return values.tasks_remaining(self.task_limit, self.tasks_consumed_in_period())

    @strawberry.field(
        description="ACTIVE if an integration is ENABLED, PAUSED if paused for "
        "BILLING, else INACTIVE."
    )
    async def status(self, info: strawberry.Info) -> EndUserStatus:
        pairs = await info.context.loaders.end_user_statuses.load(self.user_id)
        return EndUserStatus(end_user_status(pairs))

    @strawberry.field(description="Newest first unless orderBy says otherwise.")
    async def integrations(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: Annotated[IntegrationFilter, strawberry.lazy(_FILTERS)] | None = None,
        order_by: Annotated[IntegrationOrder, strawberry.lazy(_FILTERS)] | None = None,
    ) -> Annotated[IntegrationConnection, strawberry.lazy("gateway.types.integration")]:
        from gateway.types.integration import Integration, IntegrationConnection

        listing = await lists.integrations(
            info.context, "user", self.user_id, first, after, last, before, None, filter, order_by
        )
        return make_connection(IntegrationConnection, listing, Integration.builder(info.context))


@strawberry.type
class EndUserConnection(Connection[EndUser]):
    pass
