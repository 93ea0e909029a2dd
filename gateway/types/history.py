"""An integration's status history: who changed what, when and why."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from gateway.types.enums import IntegrationStatus, PauseReason, Role
from gateway.types.node import Connection
from gateway.types.scalars import DateTime


@strawberry.enum(description="Who made a status change.")
class ActorKind(Enum):
    KEY = "KEY"
    ENGINE = "ENGINE"
    AUTO_PAUSE = "AUTO_PAUSE"
    TASK_LIMIT = "TASK_LIMIT"


@strawberry.type(description="One change of an integration's status.")
class IntegrationStatusChange:
    at: DateTime
    from_: IntegrationStatus | None = strawberry.field(
        name="from", description="Null when the integration was created."
    )
    to: IntegrationStatus
    reason: PauseReason | None
    actor: str = strawberry.field(
        description='The API key\'s name, "engine", "auto-pause" or "task-limit".'
    )
    actor_kind: ActorKind
    actor_role: Role | None = strawberry.field(description="The key's role, for KEY changes.")

    @classmethod
    def from_row(cls, row: Any) -> IntegrationStatusChange:
        return cls(
            at=row.at,
            from_=IntegrationStatus(row.from_status) if row.from_status else None,
            to=IntegrationStatus(row.to_status),
            reason=PauseReason(row.reason) if row.reason else None,
            actor=row.actor_name,
            actor_kind=ActorKind(row.actor_kind),
            actor_role=Role(row.actor_role) if row.actor_role else None,
        )


@strawberry.type
class IntegrationStatusChangeConnection(Connection[IntegrationStatusChange]):
    pass
