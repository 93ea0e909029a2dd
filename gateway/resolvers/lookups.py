"""Single objects by engine ID or by global ID, always inside the caller's account."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.context import Context
from gateway.db import accounts
from gateway.errors import BadUserInput
from gateway.ids import decode_global_id, is_engine_id, is_user_id
from gateway.limits import MAX_NODE_IDS


def _builders(ctx: Context) -> dict[str, tuple[Any, Any]]:
    from gateway.types.end_user import EndUser
    from gateway.types.flow import Flow
    from gateway.types.integration import Integration
    from gateway.types.run import Run
    from gateway.types.step import Step

    loaders = ctx.loaders
    return {
        "Flow": (loaders.flow, Flow.from_row),
        "Integration": (loaders.integration, Integration.builder(ctx)),
        "Run": (loaders.run, Run.builder(ctx)),
        "Step": (loaders.step, Step.from_row),
        "EndUser": (loaders.end_user, EndUser.from_row),
    }


def _may_exist(type_name: str, key: str) -> bool:
    """Whether an object of the type could have this key (PostgreSQL refuses NUL, for one)."""
    return is_user_id(key) if type_name == "EndUser" else is_engine_id(key)


async def by_key(ctx: Context, type_name: str, engine_id: str) -> Any:
    loader, build = _builders(ctx)[type_name]
    if not _may_exist(type_name, engine_id):
        return None  # no such ID can exist
    row = await loader.load(engine_id)
    return None if row is None else build(row)


async def node(ctx: Context, global_id: str) -> Any:
    type_name, engine_id = decode_global_id(global_id)
    if type_name not in _builders(ctx):
        return None
    return await by_key(ctx, type_name, engine_id)


async def nodes(ctx: Context, global_ids: list[str]) -> list[Any]:
    if len(global_ids) > MAX_NODE_IDS:
        raise BadUserInput(f"nodes takes at most {MAX_NODE_IDS} IDs, got {len(global_ids)}.")
    return list(await asyncio.gather(*(node(ctx, gid) for gid in global_ids)))


async def account(ctx: Context) -> Any:
    async with ctx.services.db.read() as conn:
        return await accounts.account(conn, ctx.account_id)
