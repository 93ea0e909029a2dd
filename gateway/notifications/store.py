"""The statements of error notifications: the account's endpoint, the outbox, its attempts, the
per-integration fold state, and the claims the delivery worker takes.

Claims: a claim marks due rows with a lease (``lease_until``) and a token in one short
transaction; the HTTP call happens after it has committed, so no lock is held while a receiver
answers. On PostgreSQL the claim's ``SELECT … FOR UPDATE SKIP LOCKED`` lets workers of many
processes take disjoint rows at once; SQLite has one writer (``BEGIN IMMEDIATE``), so claims are
serialised anyway. A worker that dies with a claim leaves the lease to expire: the row is then due
again and resent, with the same webhook-id. An outcome is recorded only under the claim's token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.rows import insert_statement
from gateway.db.tables import (
    notification_attempts,
    notification_endpoints,
    notification_integrations,
    notifications,
)

Row = dict[str, Any]
_n = notifications.c


async def endpoint(conn: AsyncConnection, account_id: str) -> Any:
    e = notification_endpoints
    return (await conn.execute(select(e).where(e.c.account_id == account_id))).first()


async def endpoints(conn: AsyncConnection, account_ids: Iterable[str]) -> dict[str, Any]:
    e = notification_endpoints
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    result = await conn.execute(select(e).where(e.c.account_id.in_(wanted)))
    return {row.account_id: row for row in result}


async def save_endpoint(conn: AsyncConnection, row: Row) -> None:
    stmt = insert_statement(conn, notification_endpoints).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id"], set_={k: v for k, v in row.items() if k != "account_id"}
    )
    await conn.execute(stmt)


async def update_endpoint(conn: AsyncConnection, account_id: str, **values: Any) -> None:
    e = notification_endpoints
    await conn.execute(update(e).where(e.c.account_id == account_id).values(**values))


async def integration_states(
    conn: AsyncConnection, account_id: str, integration_ids: Iterable[str]
) -> dict[str, Row]:
    s = notification_integrations
    wanted = sorted(set(integration_ids))
    if not wanted:
        return {}
    result = await conn.execute(
        select(s).where(s.c.account_id == account_id, s.c.integration_id.in_(wanted))
    )
    return {row.integration_id: dict(row._mapping) for row in result}


async def save_integration_states(conn: AsyncConnection, rows: list[Row]) -> None:
    if not rows:
        return
    stmt = insert_statement(conn, notification_integrations)
    keys = ("account_id", "integration_id")
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: stmt.excluded[c] for c in ("failing", "fold_until", "pending_webhook_id")},
    )
    await conn.execute(stmt, sorted(rows, key=lambda r: r["integration_id"]))


async def insert_notifications(conn: AsyncConnection, rows: list[Row]) -> int:
    """Inserts ``rows``; one whose dedup_key the account has already used is skipped. Returns
    how many were inserted."""
    plain = [r for r in rows if r.get("dedup_key") is None]
    keyed = [r for r in rows if r.get("dedup_key") is not None]
    if plain:
        await conn.execute(notifications.insert(), plain)
    inserted = len(plain)
    for row in keyed:
        stmt = insert_statement(conn, notifications).values(**row)
        stmt = stmt.on_conflict_do_nothing(index_elements=["account_id", "dedup_key"])
        inserted += (await conn.execute(stmt)).rowcount or 0
    return inserted


async def fold_into(
    conn: AsyncConnection,
    account_id: str,
    webhook_id: str,
    count: int,
    last_occurred_at: datetime,
    run_id: str | None,
    due: datetime | None = None,
) -> bool:
    """Counts ``count`` more failures into a pending notification not serialised yet; False
    when it has been claimed meanwhile (its body is fixed) or is gone."""
    values: dict[str, Any] = {"count": _n.count + count, "last_occurred_at": last_occurred_at}
    if run_id is not None:
        values["run_id"] = run_id
    if due is not None:
        values["next_attempt_at"] = due
    result = await conn.execute(
        update(notifications)
        .where(
            _n.account_id == account_id,
            _n.webhook_id == webhook_id,
            _n.status == "PENDING",
            _n.body.is_(None),
        )
        .values(**values)
    )
    return bool(result.rowcount)


async def bring_forward(
    conn: AsyncConnection, account_id: str, webhook_id: str, now: datetime
) -> None:
    """A pending follow-up is due now (the integration recovered: send what is known)."""
    await conn.execute(
        update(notifications)
        .where(
            _n.account_id == account_id,
            _n.webhook_id == webhook_id,
            _n.status == "PENDING",
            _n.body.is_(None),
            _n.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )


def _due(now: datetime) -> Any:
    return and_(
        _n.status == "PENDING",
        _n.next_attempt_at <= now,
        or_(_n.lease_until.is_(None), _n.lease_until <= now),
    )


async def any_due(
    conn: AsyncConnection, now: datetime, webhook_ids: Sequence[str] | None = None
) -> bool:
    stmt = select(_n.notification_id).where(_due(now))
    if webhook_ids is not None:
        stmt = stmt.where(_n.webhook_id.in_(list(webhook_ids)))
    return (await conn.scalar(stmt.limit(1))) is not None


async def claim(
    conn: AsyncConnection,
    now: datetime,
    lease_until: datetime,
    token: str,
    limit: int,
    webhook_ids: Sequence[str] | None = None,
) -> list[Any]:
    """Leases up to ``limit`` due notifications (or those of ``webhook_ids`` that are due) to
    ``token``; returns them."""
    stmt = select(_n.notification_id).where(_due(now))
    if webhook_ids is not None:
        stmt = stmt.where(_n.webhook_id.in_(list(webhook_ids)))
    stmt = stmt.order_by(_n.next_attempt_at, _n.notification_id).limit(limit)
    if conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list((await conn.scalars(stmt)).all())
    if not ids:
        return []
    await conn.execute(
        update(notifications)
        .where(_n.notification_id.in_(ids))
        .values(lease_until=lease_until, claim_token=token)
    )
    return await by_ids(conn, ids)


async def pending(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """How many notifications wait to be delivered, and since when the oldest has."""
    row = (
        await conn.execute(
            select(func.count(), func.min(_n.first_occurred_at)).where(_n.status == "PENDING")
        )
    ).one()
    return int(row[0]), row[1]


async def release(conn: AsyncConnection, tokens: Sequence[str]) -> int:
    """Ends the leases of these claims at once (their rows are due again, for any process);
    returns how many rows were still held."""
    if not tokens:
        return 0
    result = await conn.execute(
        update(notifications)
        .where(_n.claim_token.in_(list(tokens)))
        .values(lease_until=None, claim_token=None)
    )
    return int(result.rowcount or 0)


async def by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[Any]:
    result = await conn.execute(
        select(notifications).where(_n.notification_id.in_(list(ids))).order_by(_n.notification_id)
    )
    return list(result)


async def set_bodies(conn: AsyncConnection, bodies: dict[int, str]) -> None:
    if not bodies:
        return
    await conn.execute(
        update(notifications)
        .where(_n.notification_id == bindparam("nid"))
        .values(body=bindparam("new_body")),
        [{"nid": k, "new_body": v} for k, v in sorted(bodies.items())],
    )


async def finish_attempts(
    conn: AsyncConnection, token: str, outcomes: list[tuple[int, dict[str, Any], Row]]
) -> set[int]:
    """Records attempts' outcomes ``(notification_id, new values, attempt row)`` for the rows
    still claimed by ``token``; returns the IDs of the others (the lease expired and another
    worker took them)."""
    if not outcomes:
        return set()
    ids = [i for i, _, _ in outcomes]
    stmt = select(_n.notification_id).where(_n.notification_id.in_(ids), _n.claim_token == token)
    if conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    held = set((await conn.scalars(stmt)).all())
    mine = sorted((o for o in outcomes if o[0] in held), key=lambda o: o[0])
    if mine:
        names = sorted({k for _, values, _ in mine for k in values})
        await conn.execute(
            update(notifications)
            .where(_n.notification_id == bindparam("nid"))
            .values(
                lease_until=None,
                claim_token=None,
                **{k: bindparam(f"v_{k}") for k in names},
            ),
            [{"nid": i, **{f"v_{k}": values.get(k) for k in names}} for i, values, _ in mine],
        )
        await conn.execute(notification_attempts.insert(), [a for _, _, a in mine])
    return set(ids) - held


async def by_webhook_id(conn: AsyncConnection, account_id: str, webhook_id: str) -> Any:
    result = await conn.execute(
        select(notifications).where(_n.account_id == account_id, _n.webhook_id == webhook_id)
    )
    return result.first()


async def requeue(conn: AsyncConnection, notification_id: int, now: datetime) -> bool:
    """Makes the notification due now, unless a worker holds it (claimed since it was read):
    whether it did."""
    result = await conn.execute(
        update(notifications)
        .where(
            _n.notification_id == notification_id,
            or_(_n.lease_until.is_(None), _n.lease_until <= now),
        )
        .values(
            status="PENDING",
            next_attempt_at=now,
            round_attempts=0,
            finished_at=None,
            lease_until=None,
            claim_token=None,
        )
    )
    return bool(result.rowcount)


def _filtered(stmt: Any, account_id: str, filters: dict[str, Any]) -> Any:
    stmt = stmt.where(_n.account_id == account_id)
    if filters.get("status"):
        stmt = stmt.where(_n.status.in_(filters["status"]))
    if filters.get("type"):
        stmt = stmt.where(_n.type.in_(filters["type"]))
    if filters.get("integration_id"):
        stmt = stmt.where(_n.integration_id.in_(filters["integration_id"]))
    return stmt


async def page(
    conn: AsyncConnection,
    account_id: str,
    filters: dict[str, Any],
    before_id: int | None,
    limit: int,
) -> list[Any]:
    """Newest first: up to ``limit`` notifications older than ``before_id``."""
    stmt = _filtered(select(notifications), account_id, filters)
    if before_id is not None:
        stmt = stmt.where(_n.notification_id < before_id)
    stmt = stmt.order_by(_n.notification_id.desc()).limit(limit)
    return list(await conn.execute(stmt))


async def count(conn: AsyncConnection, account_id: str, filters: dict[str, Any]) -> int:
    stmt = _filtered(select(func.count()).select_from(notifications), account_id, filters)
    return int(await conn.scalar(stmt) or 0)


async def attempts_of(conn: AsyncConnection, notification_ids: list[int]) -> dict[int, list[Any]]:
    a = notification_attempts
    out: dict[int, list[Any]] = {i: [] for i in notification_ids}
    if not notification_ids:
        return out
    result = await conn.execute(
        select(a).where(a.c.notification_id.in_(notification_ids)).order_by(a.c.attempt_id)
    )
    for row in result:
        out[row.notification_id].append(row)
    return out


async def prune_delivered(conn: AsyncConnection, older_than: datetime, limit: int) -> int:
    """Deletes up to ``limit`` notifications finished (delivered, or given up) before
    ``older_than``, with their attempts."""
    ids = list(
        (
            await conn.scalars(
                select(_n.notification_id)
                .where(_n.status.in_(("DELIVERED", "FAILED")), _n.finished_at < older_than)
                .limit(limit)
            )
        ).all()
    )
    if not ids:
        return 0
    a = notification_attempts
    await conn.execute(delete(a).where(a.c.notification_id.in_(ids)))
    await conn.execute(delete(notifications).where(_n.notification_id.in_(ids)))
    return len(ids)
