"""The root query fields, by domain; ``gateway.schema`` merges them."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission

from gateway.auth.permissions import CanRead
from gateway.context import Context
from gateway.errors import NotFound
from gateway.limits import MAX_NODE_IDS
from gateway.resolvers import lists, lookups
from gateway.types.account import Account
from gateway.types.arguments import (
    GlobalId,
    GlobalIds,
    IntegrationSearch,
    LookupEngineId,
    LookupUserId,
    RunSearch,
)
from gateway.types.end_user import EndUser
from gateway.types.filters import (
    FlowFilter,
    IntegrationFilter,
    IntegrationOrder,
    RunFilter,
    RunOrder,
)
from gateway.types.flow import Flow, FlowConnection
from gateway.types.integration import Integration, IntegrationConnection
from gateway.types.node import Node, make_connection
from gateway.types.run import Run, RunConnection
from gateway.types.step import Step

READ: list[type[BasePermission]] = [CanRead]


def _built(ctx: Context, found: lookups.Found | None) -> Any:
    """The strawberry object of a looked-up row."""
    if found is None:
        return None
    type_name, row = found
    if type_name == "Flow":
        return Flow.from_row(row)
    if type_name == "Integration":
        return Integration.builder(ctx)(row)
    if type_name == "Run":
        return Run.builder(ctx)(row)
    if type_name == "Step":
        return Step.from_row(row)
    return EndUser.from_row(row)


@strawberry.type
class NodeQueries:
    @strawberry.field(permission_classes=READ, description="Null for another account's ID.")
    async def node(self, info: strawberry.Info, id: GlobalId) -> Node | None:
        return _built(info.context, await lookups.node(info.context, id))

    @strawberry.field(permission_classes=READ, description=f"At most {MAX_NODE_IDS} IDs.")
    async def nodes(self, info: strawberry.Info, ids: GlobalIds) -> list[Node | None]:
        found = await lookups.nodes(info.context, list(ids))
        return [_built(info.context, typed) for typed in found]

    @strawberry.field(permission_classes=READ)
    async def viewer(self, info: strawberry.Info) -> Account:
        row = await lookups.account(info.context)
        if row is None:
            raise NotFound("The key's account no longer exists.")
        return Account.from_row(row, info.context.services.settings.retention_days)


@strawberry.type
class LookupQueries:
    @strawberry.field(permission_classes=READ)
    async def flow(self, info: strawberry.Info, flow_id: LookupEngineId) -> Flow | None:
        return _built(info.context, await lookups.by_key(info.context, "Flow", flow_id))

    @strawberry.field(permission_classes=READ)
    async def integration(
        self, info: strawberry.Info, integration_id: LookupEngineId
    ) -> Integration | None:
        return _built(
            info.context, await lookups.by_key(info.context, "Integration", integration_id)
        )

    @strawberry.field(permission_classes=READ)
    async def run(self, info: strawberry.Info, run_id: LookupEngineId) -> Run | None:
        return _built(info.context, await lookups.by_key(info.context, "Run", run_id))

    @strawberry.field(permission_classes=READ)
    async def step(self, info: strawberry.Info, step_id: LookupEngineId) -> Step | None:
        return _built(info.context, await lookups.by_key(info.context, "Step", step_id))

    @strawberry.field(permission_classes=READ, description="Null for an unknown userId.")
    async def end_user(self, info: strawberry.Info, user_id: LookupUserId) -> EndUser | None:
        return _built(info.context, await lookups.by_key(info.context, "EndUser", user_id))


@strawberry.type
class ListQueries:
    @strawberry.field(permission_classes=READ, description="Newest first.")
    async def flows(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: FlowFilter | None = None,
    ) -> FlowConnection:
        listing = await lists.flows(info.context, first, after, last, before, filter)
        return make_connection(FlowConnection, listing, Flow.from_row)

    @strawberry.field(permission_classes=READ, description="Runs across the whole account.")
    async def runs(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        search: RunSearch = None,
        filter: RunFilter | None = None,
        order_by: RunOrder | None = None,
    ) -> RunConnection:
        listing = await lists.runs(
            info.context, "account", None, first, after, last, before, search, filter, order_by
        )
        return make_connection(RunConnection, listing, Run.builder(info.context))

    @strawberry.field(
        permission_classes=READ,
        description="Integrations across every flow of the account. "
        "Newest first unless orderBy says otherwise.",
    )
    async def integrations(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        search: IntegrationSearch = None,
        filter: IntegrationFilter | None = None,
        order_by: IntegrationOrder | None = None,
    ) -> IntegrationConnection:
        listing = await lists.integrations(
            info.context, "account", None, first, after, last, before, search, filter, order_by
        )
        return make_connection(IntegrationConnection, listing, Integration.builder(info.context))
