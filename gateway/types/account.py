from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gateway.auth.permissions import CanAdmin
from gateway.resolvers import notifications

if TYPE_CHECKING:
    from gateway.types.notifications import ErrorNotifications


@strawberry.type(description="The tenant the API key acts for.")
class Account:
    account_id: str
    name: str
    auto_pause_after_failures: int = strawberry.field(
        description="Consecutive failed runs that pause an integration; 0 = off."
    )
    retention_days: int = strawberry.field(
        description="Runs older than this are purged; 0 = kept forever."
    )

    @strawberry.field(
        permission_classes=[CanAdmin],
        description="Admin keys only (a webhook URL may carry a token). Null until"
        " setErrorNotifications is first called.",
    )
    async def error_notifications(
        self, info: strawberry.Info
    ) -> Annotated[ErrorNotifications, strawberry.lazy("gateway.types.notifications")] | None:
        return await notifications.error_notifications(info.context)

    @classmethod
    def from_row(cls, row: Any, default_retention: int) -> Account:
        return cls(
            account_id=row.account_id,
            name=row.name,
            auto_pause_after_failures=row.auto_pause_after_failures,
            retention_days=default_retention if row.retention_days is None else row.retention_days,
        )
