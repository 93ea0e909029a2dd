"""API keys: ``gw_<key id>_<secret>``. Only a SHA-256 of the whole key is stored; the key has
256 bits of randomness, so a fast hash is as safe as a slow one and costs nothing per request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from gateway.db import accounts as store
from gateway.db.engine import Database

ROLES = ("VIEWER", "ADMIN", "INGEST")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one key, one account, one role."""

    account_id: str
    role: str
    key_id: str
    name: str
    # The key's own hourly rate limit in points; None: GATEWAY_RATE_LIMIT_POINTS_PER_HOUR.
    points_per_hour: int | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    db: Database,
    account_id: str,
    role: str,
    name: str | None = None,
    *,
    points_per_hour: int | None = None,
) -> str:
    role = role.upper()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(r.lower() for r in ROLES)}")
    key_id = secrets.token_hex(8)
    key = f"gw_{key_id}_{secrets.token_urlsafe(32)}"
    async with db.transaction() as conn:
        await store.ensure_account(conn, account_id)
        await store.insert_key(
            conn,
            key_id=key_id,
            account_id=account_id,
            name=name or role.lower(),
            role=role,
            key_hash=hash_key(key),
            points_per_hour=points_per_hour,
        )
    return key
