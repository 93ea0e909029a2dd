"""Error notifications: the account's webhook settings, the deliveries and their attempts, and
the mutations that change them (contract names: SPEC §4)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.permission import BasePermission

from gateway.auth.permissions import CanAdmin
from gateway.limits import ENGINE_ID_TEXT, LIMIT, WEBHOOK_ID_TEXT, WEBHOOK_URL_TEXT
from gateway.notifications import notices as n
from gateway.resolvers import notifications as resolve
from gateway.types.arguments import limited
from gateway.types.node import Connection
from gateway.types.scalars import DateTime

ADMIN: list[type[BasePermission]] = [CanAdmin]


@strawberry.enum(description="What a notification tells (its JSON `type`).")
class NotificationType(Enum):
    RUN_FAILED = n.RUN_FAILED
    RUN_RECOVERED = n.RUN_RECOVERED
    INTEGRATION_PAUSED = n.INTEGRATION_PAUSED
    INTEGRATION_FAILED_TO_INITIALIZE = n.INTEGRATION_FAILED_TO_INITIALIZE
    END_USER_TASK_LIMIT_80 = n.TASK_LIMIT_80
    END_USER_TASK_LIMIT_100 = n.TASK_LIMIT_100
    TEST = n.TEST


@strawberry.enum
class NotificationStatus(Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@strawberry.enum(description="Why the gateway turned error notifications off.")
class NotificationsDisabledReason(Enum):
    GONE = strawberry.enum_value("GONE", description="The receiver answered 410 Gone.")
    FAILING = strawberry.enum_value("FAILING", description="Every attempt failed for 5 days.")


@strawberry.type(description="Where and how failures are told by webhook.")
class ErrorNotifications:
    enabled: bool
    webhook_url: str | None
    flow_ids: list[str] | None = strawberry.field(description="Null: every flow.")
    min_interval_seconds: int = strawberry.field(
        description="At most one notification per integration within this time; later "
        "failures are counted into it."
    )
    signing_secret: str | None = strawberry.field(
        description="whsec_…: shown only in the answer that created or rotated it."
    )
    previous_secret_expires_at: DateTime | None = strawberry.field(
        description="After a rotation, the previous secret signs too until then."
    )
    disabled_reason: NotificationsDisabledReason | None = strawberry.field(
        description="Set when the gateway turned notifications off; enabled: true clears it."
    )
    disabled_at: DateTime | None
    failing_since: DateTime | None = strawberry.field(
        description="The first failed attempt since the last success."
    )

    @classmethod
    def from_row(cls, row: Any, shown_secret: str | None = None) -> ErrorNotifications:
        return cls(
            enabled=row.enabled,
            webhook_url=row.webhook_url,
            flow_ids=row.flow_ids,
            min_interval_seconds=row.min_interval_seconds,
            signing_secret=shown_secret,
            previous_secret_expires_at=row.previous_secret_until,
            disabled_reason=(
                NotificationsDisabledReason(row.disabled_reason) if row.disabled_reason else None
            ),
            disabled_at=row.disabled_at,
            failing_since=row.failing_since,
        )


@strawberry.input(description="Omitted fields stay as they are.")
class ErrorNotificationsInput:
    webhook_url: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="https (http only when the server allows it), to a public address. "
        + WEBHOOK_URL_TEXT.describe(),
        metadata={LIMIT: WEBHOOK_URL_TEXT},
    )
    enabled: bool | None = strawberry.UNSET
    flow_ids: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Null: every flow. " + ENGINE_ID_TEXT.describe(each=True),
        metadata={LIMIT: ENGINE_ID_TEXT},
    )
    min_interval_seconds: int | None = strawberry.field(
        default=strawberry.UNSET, description="Default 900."
    )
    rotate_secret: bool | None = strawberry.field(
        default=False,
        description="A new signing secret; the previous one keeps signing for 24 hours.",
    )


@strawberry.type(description="One attempt to deliver a notification.")
class NotificationAttempt:
    attempted_at: DateTime
    response_code: int | None = strawberry.field(description="Null when no answer came.")
    latency_ms: int
    error: str | None
    next_attempt_at: DateTime | None = strawberry.field(
        description="When it is tried again; null if it is not."
    )

    @classmethod
    def from_row(cls, row: Any) -> NotificationAttempt:
        return cls(
            attempted_at=row.attempted_at,
            response_code=row.response_code,
            latency_ms=row.latency_ms,
            error=row.error,
            next_attempt_at=row.next_attempt_at,
        )


@strawberry.type(description="One notification (one webhook-id) and its delivery.")
class NotificationDelivery:
    id: strawberry.ID = strawberry.field(description="The webhook-id header it is sent with.")
    type: NotificationType
    status: NotificationStatus
    created_at: DateTime
    count: int = strawberry.field(description="Failures folded into this notification.")
    first_occurred_at: DateTime
    last_occurred_at: DateTime
    flow_id: str | None
    integration_id: str | None
    run_id: str | None
    user_id: str | None
    next_attempt_at: DateTime | None
    finished_at: DateTime | None = strawberry.field(
        description="When it was delivered or given up."
    )
    last_error: str | None
    attempts: list[NotificationAttempt] = strawberry.field(description="Oldest first.")

    @classmethod
    def from_row(cls, row: Any, attempts: list[Any]) -> NotificationDelivery:
        return cls(
            id=strawberry.ID(row.webhook_id),
            type=NotificationType(row.type),
            status=NotificationStatus(row.status),
            created_at=row.created_at,
            count=row.count,
            first_occurred_at=row.first_occurred_at,
            last_occurred_at=row.last_occurred_at,
            flow_id=row.flow_id,
            integration_id=row.integration_id,
            run_id=row.run_id,
            user_id=row.user_id,
            next_attempt_at=row.next_attempt_at,
            finished_at=row.finished_at,
            last_error=row.last_error,
            attempts=[NotificationAttempt.from_row(a) for a in attempts],
        )


@strawberry.type
class NotificationDeliveryConnection(Connection[NotificationDelivery]):
    pass


@strawberry.input(description="Values within a field are OR'd, fields are AND'd.")
class NotificationDeliveryFilter:
    status: list[NotificationStatus] | None = None
    type: list[NotificationType] | None = None
    integration_id: list[str] | None = strawberry.field(
        default=None,
        description=ENGINE_ID_TEXT.describe(each=True),
        metadata={LIMIT: ENGINE_ID_TEXT},
    )


@strawberry.type
class NotificationQueries:
    @strawberry.field(permission_classes=ADMIN, description="Newest first, with every attempt.")
    async def notification_deliveries(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        filter: NotificationDeliveryFilter | None = None,
    ) -> NotificationDeliveryConnection:
        return await resolve.deliveries(info.context, first, after, filter)


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Webhook URL, on/off, flow scope, minimum interval per integration. "
        "Omitted fields stay unchanged.",
    )
    async def set_error_notifications(
        self, info: strawberry.Info, input: ErrorNotificationsInput
    ) -> ErrorNotifications:
        return await resolve.set_error_notifications(info.context, input)

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Sends one notification again, now, with the same webhook-id and body.",
    )
    async def redeliver_notification(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, limited(WEBHOOK_ID_TEXT, "The notification's webhook-id.")],
    ) -> NotificationDelivery:
        return await resolve.redeliver(info.context, str(id))

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Sends a notification of type notification.test at once, to check the "
        "receiver end to end; the answer shows the attempt.",
    )
    async def send_test_notification(self, info: strawberry.Info) -> NotificationDelivery:
        return await resolve.send_test(info.context)
