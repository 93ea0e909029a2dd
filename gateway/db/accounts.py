"""Accounts and API keys: the statements behind ``gateway keys`` and authentication."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import tables as t


async def ensure_account(conn: AsyncConnection, account_id: str, name: str | None = None) -> None:
    module = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = module.insert(t.accounts).values(
        account_id=account_id, name=name or account_id, created_at=datetime.now(UTC)
    )
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=["account_id"]))


async def account(conn: AsyncConnection, account_id: str) -> Any:
    a = t.accounts
    return (await conn.execute(select(a).where(a.c.account_id == account_id))).first()


async def insert_key(
    conn: AsyncConnection,
    *,
    key_id: str,
    account_id: str,
    name: str,
    role: str,
    key_hash: str,
    points_per_hour: int | None = None,
) -> None:
    await conn.execute(
        t.api_keys.insert().values(
            key_id=key_id,
            account_id=account_id,
            name=name,
            role=role,
            key_hash=key_hash,
            points_per_hour=points_per_hour,
            created_at=datetime.now(UTC),
        )
    )


async def key_by_hash(conn: AsyncConnection, key_hash: str) -> Any:
    k = t.api_keys
    return (await conn.execute(select(k).where(k.c.key_hash == key_hash))).first()


async def list_keys(conn: AsyncConnection, account_id: str | None) -> list[Any]:
    k = t.api_keys
    stmt = select(k).order_by(k.c.account_id, k.c.created_at)
    if account_id is not None:
        stmt = stmt.where(k.c.account_id == account_id)
    return list(await conn.execute(stmt))


async def revoke_key(conn: AsyncConnection, key_id: str) -> bool:
    k = t.api_keys
    result = await conn.execute(
        update(k)
        .where(k.c.key_id == key_id, k.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return bool(result.rowcount)


async def update_settings(conn: AsyncConnection, account_id: str, **values: Any) -> None:
    a = t.accounts
    await conn.execute(update(a).where(a.c.account_id == account_id).values(**values))
