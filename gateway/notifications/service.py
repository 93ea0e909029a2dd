"""What admins do with error notifications: configure the endpoint, redeliver one, send a test.

The signing secret is made when the endpoint is first saved and shown only in that answer, or in
the answer of a rotation; after a rotation the previous secret keeps signing for
``ROTATION_OVERLAP`` so receivers can switch without losing a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.auth.keys import Principal
from gateway.db import rows
from gateway.db.engine import Database
from gateway.errors import BadUserInput, Conflict, NotFound
from gateway.ids import is_engine_id
from gateway.limits import MAX_LIST_VALUES
from gateway.notifications import notices as n
from gateway.notifications import signing, store
from gateway.notifications.addresses import RefusedUrl, check_url
from gateway.notifications.outbox import is_active, notification_row
from gateway.notifications.worker import Deliverer

ROTATION_OVERLAP = timedelta(hours=24)
DEFAULT_MIN_INTERVAL = 900
MAX_MIN_INTERVAL = 7 * 24 * 3600
WEBHOOK_ID_MAX = 64


class _Unset:
    pass


UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class EndpointUpdate:
    """Fields left UNSET stay as they are."""

    webhook_url: Any = UNSET
    enabled: Any = UNSET
    flow_ids: Any = UNSET
    min_interval_seconds: Any = UNSET
    rotate_secret: bool = False


@dataclass(frozen=True, slots=True)
class Saved:
    endpoint: Any
    # The secret, when this save made it (creation or rotation); None otherwise.
    shown_secret: str | None


def _check_plain(update: EndpointUpdate) -> None:
    if update.enabled is None:
        raise BadUserInput("enabled may be true or false, not null.")
    interval = update.min_interval_seconds
    if interval is None:
        raise BadUserInput("minIntervalSeconds may not be null; omit it to keep it.")
    if interval is not UNSET and not 0 <= interval <= MAX_MIN_INTERVAL:
        raise BadUserInput(
            f"minIntervalSeconds must be between 0 and {MAX_MIN_INTERVAL}, got {interval}."
        )
    flow_ids = update.flow_ids
    if flow_ids is not UNSET and flow_ids is not None:
        if len(flow_ids) > MAX_LIST_VALUES:
            raise BadUserInput(f"At most {MAX_LIST_VALUES} flowIds, got {len(flow_ids)}.")
        if not flow_ids:
            raise BadUserInput("flowIds: give at least one, or null for every flow.")


async def set_error_notifications(
    db: Database,
    principal: Principal,
    update: EndpointUpdate,
    *,
    allow_http: bool,
    allow_private: bool,
) -> Saved:
    _check_plain(update)
    url = update.webhook_url
    if url is not UNSET and url is not None:
        try:
            await check_url(url, allow_http=allow_http, allow_private=allow_private)
        except RefusedUrl as error:
            raise BadUserInput(str(error), field="webhookUrl") from None
    account_id = principal.account_id
    async with db.write(account_id) as uow:
        conn = uow.conn
        now = datetime.now(UTC)
        current = await store.endpoint(conn, account_id)
        row: dict[str, Any] = (
            dict(current._mapping)
            if current is not None
            else {
                "account_id": account_id,
                "webhook_url": None,
                "enabled": False,
                "flow_ids": None,
                "min_interval_seconds": DEFAULT_MIN_INTERVAL,
                "secret": None,
                "previous_secret": None,
                "previous_secret_until": None,
                "failing_since": None,
                "disabled_reason": None,
                "disabled_at": None,
            }
        )
        if update.flow_ids is not UNSET and update.flow_ids is not None:
            ids = list(dict.fromkeys(update.flow_ids))
            found = await rows.load_by_key(
                conn, "flows", account_id, [i for i in ids if is_engine_id(i)]
            )
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFound(f"No flow {missing[0][:140]!r}.", flowIds=missing[:10])
            row["flow_ids"] = ids
        elif update.flow_ids is None:
            row["flow_ids"] = None
        if url is not UNSET:
            if url != row["webhook_url"]:
                row["failing_since"] = None
            row["webhook_url"] = url
            if current is None and update.enabled is UNSET:
                row["enabled"] = url is not None
        if update.min_interval_seconds is not UNSET:
            row["min_interval_seconds"] = update.min_interval_seconds
        if update.enabled is not UNSET:
            row["enabled"] = update.enabled
            if update.enabled:
                row.update(disabled_reason=None, disabled_at=None, failing_since=None)
        if row["enabled"] and not row["webhook_url"]:
            raise BadUserInput("Give a webhookUrl to enable error notifications.")
        shown = None
        if row["secret"] is None:
            row["secret"] = shown = signing.new_secret()
        elif update.rotate_secret:
            row["previous_secret"] = row["secret"]
            row["previous_secret_until"] = now + ROTATION_OVERLAP
            row["secret"] = shown = signing.new_secret()
        row["updated_at"] = now
        await store.save_endpoint(conn, row)
        saved = await store.endpoint(conn, account_id)
    return Saved(saved, shown)


async def endpoint(db: Database, account_id: str) -> Any:
    async with db.read() as conn:
        return await store.endpoint(conn, account_id)


def _checked_id(webhook_id: str) -> str:
    if len(webhook_id) > WEBHOOK_ID_MAX or not webhook_id.isprintable():
        raise NotFound(f"No notification {webhook_id[:80]!r}.")
    return webhook_id


async def redeliver(
    db: Database, deliverer: Deliverer, principal: Principal, webhook_id: str
) -> Any:
    """Queues one notification again, due now, with its webhook-id and body."""
    account_id = principal.account_id
    _checked_id(webhook_id)
    async with db.write(account_id) as uow:
        now = deliverer.clock()
        row = await store.by_webhook_id(uow.conn, account_id, webhook_id)
        if row is None:
            raise NotFound(f"No notification {webhook_id!r}.")
        # Checked in the update itself: a worker may claim it between the read and the write.
        if not await store.requeue(uow.conn, row.notification_id, now):
            raise Conflict(f"Notification {webhook_id!r} is being delivered right now.")
    deliverer.wake()
    return await _reread(db, account_id, webhook_id)


async def send_test(db: Database, deliverer: Deliverer, principal: Principal) -> Any:
    """Queues a test notification and attempts it at once; returns it with that attempt."""
    account_id = principal.account_id
    async with db.write(account_id) as uow:
        now = deliverer.clock()
        current = await store.endpoint(uow.conn, account_id)
        if not is_active(current):
            raise BadUserInput("Error notifications are off: set a webhookUrl and enable them.")
        row = notification_row(account_id, n.TEST, now, now)
        await store.insert_notifications(uow.conn, [row])
    await deliverer.run_once(webhook_ids=[row["webhook_id"]])
    return await _reread(db, account_id, row["webhook_id"])


async def _reread(db: Database, account_id: str, webhook_id: str) -> Any:
    async with db.read() as conn:
        return await store.by_webhook_id(conn, account_id, webhook_id)
