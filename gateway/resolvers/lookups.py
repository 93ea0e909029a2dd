"""Single objects by engine ID or by global ID, always inside the caller's account: their rows,
with the type each is of, for either executor to present."""

from __future__ import annotations

import asyncio
from typing import Any

from aiodataloader import DataLoader

from gateway.context import Context
from gateway.db import accounts
from gateway.errors import BadUserInput
from gateway.ids import decode_global_id, is_engine_id, is_user_id
from gateway.limits import MAX_NODE_IDS

# (type name, row)
Found = tuple[str, Any]

NODE_TYPES = ("Flow", "Integration", "Run", "Step", "EndUser")


def _loader(ctx: Context, type_name: str) -> DataLoader:
    loaders = ctx.loaders
    return {
        "Flow": loaders.flow,
        "Integration": loaders.integration,
        "Run": loaders.run,
        "Step": loaders.step,
        "EndUser": loaders.end_user,
    }[type_name]


def _may_exist(type_name: str, key: str) -> bool:
    """Whether an object of the type could have this key (PostgreSQL refuses NUL, for one)."""
    return is_user_id(key) if type_name == "EndUser" else is_engine_id(key)


async def by_key(ctx: Context, type_name: str, engine_id: str) -> Found | None:
    if not _may_exist(type_name, engine_id):
        return None  # no such ID can exist
    row = await _loader(ctx, type_name).load(engine_id)
    return None if row is None else (type_name, row)


async def node(ctx: Context, global_id: str) -> Found | None:
    type_name, engine_id = decode_global_id(global_id)
    if type_name not in NODE_TYPES:
        return None
    return await by_key(ctx, type_name, engine_id)


async def nodes(ctx: Context, global_ids: list[str]) -> list[Found | None]:
    if len(global_ids) > MAX_NODE_IDS:
        raise BadUserInput(f"nodes takes at most {MAX_NODE_IDS} IDs, got {len(global_ids)}.")
    return list(await asyncio.gather(*(node(ctx, gid) for gid in global_ids)))


async def account(ctx: Context) -> Any:
    async with ctx.services.db.read() as conn:
        return await accounts.account(conn, ctx.account_id)
