"""What admins do to integrations and end-users, each in one transaction.

Writes of one account are serialised (advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite),
so two concurrent actions on one integration apply one after the other and the history shows
both in that order. Another account's IDs are simply not found: NOT_FOUND, never CONFLICT or
FORBIDDEN, which would tell that they exist.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.actions import task_limits
from gateway.actions.transitions import Actor, change_status, check_user_transition
from gateway.auth.keys import Principal
from gateway.db import accounts, rows
from gateway.db.engine import Database, UnitOfWork
from gateway.errors import BadUserInput, NotFound
from gateway.ids import is_engine_id, is_user_id
from gateway.limits import MAX_BULK_ACTION
from gateway.live.changes import Change, integration_change
from gateway.notifications.notices import LimitCrossing

Row = dict[str, Any]
MAX_BULK = MAX_BULK_ACTION


@dataclass
class Outcome:
    """The rows after the action."""

    rows: list[Row]


def _actor(principal: Principal) -> Actor:
    return Actor("KEY", principal.name, principal.role)


async def set_integration_status(
    db: Database, principal: Principal, integration_ids: list[str], target: str
) -> Outcome:
    """Moves every integration to ``target``, or none of them (unknown ID, illegal change)."""
    ids = list(dict.fromkeys(integration_ids))
    if not ids:
        raise BadUserInput("Give at least one integrationId.")
    if len(ids) > MAX_BULK:
        raise BadUserInput(f"At most {MAX_BULK} integrations at once, got {len(ids)}.")
    account_id = principal.account_id
    async with db.write(account_id) as uow:
        conn = uow.conn
        # Taken once the account's write lock is held, so that changes applied one after the
        # other also carry times in that order (history, status_changed_at, receiving_stopped_at).
        now = datetime.now(UTC)
        # Text that cannot be an engine ID names nothing; it never reaches the database
        # (PostgreSQL refuses NUL bytes).
        found = await rows.load_by_key(
            conn, "integrations", account_id, [i for i in ids if is_engine_id(i)]
        )
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(
                f"No integration {missing[0][:140]!r}.",
                integrationIds=[i[:140] for i in missing],
            )
        outcome = Outcome([found[i] for i in ids])
        history: list[Row] = []
        changed: list[Row] = []
        for row in outcome.rows:
            if check_user_transition(row["integration_id"], row["status"], target):
                previous = change_status(row, target, None, now, _actor(principal), history)
                uow.record(integration_change(row, previous))
                changed.append(row)
        changed.sort(key=lambda r: r["integration_id"])
        await rows.upsert(conn, "integrations", changed)
        await rows.insert_history(conn, history)
    return outcome


async def _write_end_user(
    uow: UnitOfWork, end_user: Row, changes: task_limits.Changed, history: list[Row]
) -> None:
    await rows.upsert(uow.conn, "end_users", [end_user])
    changed = sorted((row for row, _ in changes), key=lambda r: r["integration_id"])
    await rows.upsert(uow.conn, "integrations", changed)
    await rows.insert_history(uow.conn, history)
    uow.record(*(integration_change(row, previous) for row, previous in changes))


async def set_task_limit(
    db: Database,
    principal: Principal,
    user_id: str,
    limit: int | None,
    period_days: int | None,
) -> tuple[Row, task_limits.Changed]:
    if limit is not None and limit < 0:
        raise BadUserInput(f"limit must be 0 or more, got {limit}.")
    if period_days is not None and not 1 <= period_days <= 3660:
        raise BadUserInput(f"periodDays must be between 1 and 3660, got {period_days}.")
    if not is_user_id(user_id):
        raise NotFound(f"No end-user {user_id[:300]!r}.")
    account_id = principal.account_id
    async with db.write(account_id) as uow:
        conn = uow.conn
        end_user = (await rows.load_by_key(conn, "end_users", account_id, [user_id])).get(user_id)
        if end_user is None:
            raise NotFound(f"No end-user {user_id!r}.")
        integrations = await rows.load_integrations_of_users(conn, account_id, [user_id])
        history: list[Row] = []
        crossings: list[LimitCrossing] = []
        changes = task_limits.set_limit(
            end_user,
            list(integrations.values()),
            limit,
            period_days,
            datetime.now(UTC),
            history,
            crossings,
        )
        await _write_end_user(uow, end_user, changes, history)
        uow.note(*crossings)
    return end_user, changes


async def start_new_periods(db: Database, now: datetime | None = None) -> list[Change]:
    """Starts the next period of every limit whose period ended, enabling again what the limit
    paused. Returns the changes it made (each unit of work published them)."""
    now = now or datetime.now(UTC)
    async with db.read() as conn:
        due = await rows.end_users_with_ended_periods(conn, now)
    by_account: dict[str, list[str]] = defaultdict(list)
    for account_id, user_id in due:
        by_account[account_id].append(user_id)
    out: list[Change] = []
    for account_id, user_ids in by_account.items():
        async with db.write(account_id) as uow:
            conn = uow.conn
            end_users = await rows.load_by_key(conn, "end_users", account_id, user_ids)
            integrations = await rows.load_integrations_of_users(conn, account_id, user_ids)
            for user_id, end_user in end_users.items():
                mine = [i for i in integrations.values() if i["user_id"] == user_id]
                history: list[Row] = []
                changes = task_limits.roll_period(end_user, mine, now, history)
                await _write_end_user(uow, end_user, changes, history)
                out += [integration_change(row, previous) for row, previous in changes]
    return out


async def set_account_settings(
    db: Database,
    principal: Principal,
    auto_pause_after_failures: int | None,
    retention_days: int | None,
) -> Any:
    values: dict[str, Any] = {}
    if auto_pause_after_failures is not None:
        if not 0 <= auto_pause_after_failures <= 10_000:
            raise BadUserInput(
                "autoPauseAfterFailures must be between 0 (off) and 10000, got "
                f"{auto_pause_after_failures}."
            )
        values["auto_pause_after_failures"] = auto_pause_after_failures
    if retention_days is not None:
        if not 0 <= retention_days <= 36_600:
            raise BadUserInput(
                f"retentionDays must be between 0 (keep all) and 36600, got {retention_days}."
            )
        values["retention_days"] = retention_days
    async with db.write(principal.account_id) as uow:
        if values:
            await accounts.update_settings(uow.conn, principal.account_id, **values)
        return await accounts.account(uow.conn, principal.account_id)
