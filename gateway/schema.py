"""The strawberry Schema, composed from per-domain roots."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.schema.config import StrawberryConfig

from gateway.http.guard import OperationGuard
from gateway.live.sharing import SharedEventExecutor
from gateway.resolvers.arguments import ArgumentLimits
from gateway.types.actions import IntegrationMutations, SettingsMutations
from gateway.types.end_user import EndUser
from gateway.types.flow import Flow
from gateway.types.ingest import IngestMutations, use_coerced_ingest_input
from gateway.types.integration import Integration
from gateway.types.live import Subscription
from gateway.types.notifications import NotificationMutations, NotificationQueries
from gateway.types.queries import ListQueries, LookupQueries, NodeQueries
from gateway.types.rate_limit import RateLimitQueries
from gateway.types.run import Run
from gateway.types.scalars import DATETIME_SCALAR, DateTime
from gateway.types.step import Step


@strawberry.type
class Query(NodeQueries, LookupQueries, ListQueries, NotificationQueries, RateLimitQueries):
    pass


@strawberry.type
class Mutation(IntegrationMutations, SettingsMutations, NotificationMutations, IngestMutations):
    pass


class GatewaySchema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Not here: OperationGuard logs each error once, after giving it its code."""


def build_schema() -> strawberry.Schema:
    built = GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Flow, Integration, Run, Step, EndUser],
        extensions=[OperationGuard, ArgumentLimits],
        execution_context_class=SharedEventExecutor,
        config=StrawberryConfig(auto_camel_case=True, scalar_map={DateTime: DATETIME_SCALAR}),
    )
    use_coerced_ingest_input(built._schema)
    return built


schema = build_schema()
