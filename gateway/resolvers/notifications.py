"""Behind the error-notification fields and mutations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import strawberry

from gateway.cursors import decode_cursor, encode_cursor
from gateway.errors import BadUserInput
from gateway.limits import DEFAULT_PAGE, MAX_LIST_VALUES, MAX_PAGE
from gateway.notifications import service, store

if TYPE_CHECKING:
    from gateway.context import Context
    from gateway.types.notifications import (
        ErrorNotifications,
        ErrorNotificationsInput,
        NotificationDelivery,
        NotificationDeliveryConnection,
        NotificationDeliveryFilter,
    )

_ORDER = "notification"


def _value(value: Any) -> Any:
    return service.UNSET if value is strawberry.UNSET else value


async def set_error_notifications(
    ctx: Context, given: ErrorNotificationsInput
) -> ErrorNotifications:
    from gateway.types.notifications import ErrorNotifications

    settings = ctx.services.settings
    saved = await service.set_error_notifications(
        ctx.services.db,
        ctx.principal,
        service.EndpointUpdate(
            webhook_url=_value(given.webhook_url),
            enabled=_value(given.enabled),
            flow_ids=_value(given.flow_ids),
            min_interval_seconds=_value(given.min_interval_seconds),
            rotate_secret=bool(given.rotate_secret),
        ),
        allow_http=settings.notifications_allow_http,
        allow_private=settings.notifications_allow_private_urls,
    )
    return ErrorNotifications.from_row(saved.endpoint, saved.shown_secret)


async def error_notifications(ctx: Context) -> ErrorNotifications | None:
    from gateway.types.notifications import ErrorNotifications

    row = await service.endpoint(ctx.services.db, ctx.account_id)
    return None if row is None else ErrorNotifications.from_row(row)


def _filters(given: NotificationDeliveryFilter | None) -> dict[str, Any]:
    if given is None:
        return {}
    out: dict[str, Any] = {}
    for name in ("status", "type", "integration_id"):
        values = getattr(given, name)
        if values and len(values) > MAX_LIST_VALUES:
            raise BadUserInput(f"At most {MAX_LIST_VALUES} values in {name}, got {len(values)}.")
        if values:
            out[name] = [getattr(v, "value", v) for v in values]
    return out


async def _delivery(ctx: Context, row: Any) -> NotificationDelivery:
    from gateway.types.notifications import NotificationDelivery

    async with ctx.services.db.read() as conn:
        attempts = await store.attempts_of(conn, [row.notification_id])
    return NotificationDelivery.from_row(row, attempts[row.notification_id])


async def deliveries(
    ctx: Context,
    first: int | None,
    after: str | None,
    given: NotificationDeliveryFilter | None,
) -> NotificationDeliveryConnection:
    from gateway.types.node import PageInfo
    from gateway.types.notifications import NotificationDelivery, NotificationDeliveryConnection

    size = DEFAULT_PAGE if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise BadUserInput(f'"first" must be between 1 and {MAX_PAGE}, got {size}.')
    before_id = None
    if after:
        value, _ = decode_cursor(after, _ORDER)
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadUserInput(f"{after[:200]!r} is not a valid cursor.")
        before_id = value
    filters = _filters(given)
    db = ctx.services.db
    async with db.read() as conn:
        found = await store.page(conn, ctx.account_id, filters, before_id, size + 1)
        shown = found[:size]
        attempts = await store.attempts_of(conn, [r.notification_id for r in shown])

    async def count() -> int:
        async with db.read() as conn:
            return await store.count(conn, ctx.account_id, filters)

    cursors = [encode_cursor(_ORDER, r.notification_id, str(r.notification_id)) for r in shown]
    return NotificationDeliveryConnection(
        nodes=[NotificationDelivery.from_row(r, attempts[r.notification_id]) for r in shown],
        page_info=PageInfo(
            has_next_page=len(found) > size,
            has_previous_page=before_id is not None,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        _cursors=cursors,
        _count=count,
    )


async def redeliver(ctx: Context, webhook_id: str) -> NotificationDelivery:
    row = await service.redeliver(ctx.services.db, ctx.services.notifier, ctx.principal, webhook_id)
    return await _delivery(ctx, row)


async def send_test(ctx: Context) -> NotificationDelivery:
    row = await service.send_test(ctx.services.db, ctx.services.notifier, ctx.principal)
    return await _delivery(ctx, row)
