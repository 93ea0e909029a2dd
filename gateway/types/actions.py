"""Admin mutations: integration actions, task limits and account settings (contract names)."""

from __future__ import annotations

from types import SimpleNamespace

import strawberry
from strawberry.permission import BasePermission

from gateway.actions import service
from gateway.auth.permissions import CanAdmin
from gateway.errors import BadUserInput
from gateway.types.account import Account
from gateway.types.arguments import ActedIntegrationId, ActedIntegrationIds, ActedUserId
from gateway.types.end_user import EndUser
from gateway.types.integration import Integration

ADMIN: list[type[BasePermission]] = [CanAdmin]


async def _set_status(info: strawberry.Info, ids: list[str], target: str) -> list[Integration]:
    ctx = info.context
    outcome = await service.set_integration_status(ctx.services.db, ctx.principal, ids, target)
    build = Integration.builder(ctx)
    return [build(SimpleNamespace(**row)) for row in outcome.rows]


@strawberry.type
class IntegrationMutations:
    @strawberry.mutation(
        permission_classes=ADMIN,
        description="ENABLED or PAUSED → DISABLED. "
        "Disabling a disabled integration succeeds and changes nothing.",
    )
    async def disable_integration(
        self, info: strawberry.Info, integration_id: ActedIntegrationId
    ) -> Integration:
        return (await _set_status(info, [integration_id], "DISABLED"))[0]

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="DISABLED or PAUSED → ENABLED; resets the consecutive-failure count.",
    )
    async def enable_integration(
        self, info: strawberry.Info, integration_id: ActedIntegrationId
    ) -> Integration:
        return (await _set_status(info, [integration_id], "ENABLED"))[0]

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="A soft delete: the row stays, status DELETED, which is final.",
    )
    async def delete_integration(
        self, info: strawberry.Info, integration_id: ActedIntegrationId
    ) -> Integration:
        return (await _set_status(info, [integration_id], "DELETED"))[0]

    @strawberry.mutation(permission_classes=ADMIN, description="Up to 100, all or nothing.")
    async def disable_integrations(
        self, info: strawberry.Info, integration_ids: ActedIntegrationIds
    ) -> list[Integration]:
        return await _set_status(info, integration_ids, "DISABLED")


@strawberry.type
class SettingsMutations:
    @strawberry.mutation(
        permission_classes=ADMIN, description="Omitted arguments stay as they are."
    )
    async def set_account_settings(
        self,
        info: strawberry.Info,
        auto_pause_after_failures: int | None = None,
        retention_days: int | None = None,
    ) -> Account:
        ctx = info.context
        row = await service.set_account_settings(
            ctx.services.db, ctx.principal, auto_pause_after_failures, retention_days
        )
        return Account.from_row(row, ctx.services.settings.retention_days)

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="limit: null removes the limit. "
        "Periods are windows of periodDays (default 30) from when it was set.",
    )
    async def set_task_limit(
        self,
        info: strawberry.Info,
        user_id: ActedUserId,
        limit: int | None = strawberry.UNSET,
        period_days: int | None = None,
    ) -> EndUser:
        if limit is strawberry.UNSET:
            # Left out is not null: removing a limit is said, never assumed.
            raise BadUserInput("Give limit: the number of tasks per period, or null to remove it.")
        ctx = info.context
        row, _ = await service.set_task_limit(
            ctx.services.db, ctx.principal, user_id, limit, period_days
        )
        return EndUser.from_row(SimpleNamespace(**row))
