"""From an ``Authorization`` header to a Principal, with a short cache so that steady traffic
costs no SQL. A revoke takes effect within ``ttl`` seconds on every process. Concurrent
lookups of one key share one query (a thousand dashboards reconnecting at once cost one read,
not a thousand connections of the pool)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway.auth.keys import Principal, hash_key
from gateway.db import accounts as store
from gateway.db.engine import Database
from gateway.errors import Unauthenticated


class Authenticator:
    def __init__(self, db: Database, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.db = db
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._reading: dict[str, asyncio.Future[Principal | None]] = {}

    def forget(self) -> None:
        self._cache.clear()

    async def principal(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("Send an API key: Authorization: Bearer <key>.")
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("Send an API key: Authorization: Bearer <key>.")
        principal = await self._lookup(hash_key(key.strip()))
        if principal is None:
            raise Unauthenticated("The API key is unknown or revoked.")
        return principal

    async def _lookup(self, key_hash: str) -> Principal | None:
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        reading = self._reading.get(key_hash)
        if reading is None:
            reading = asyncio.ensure_future(self._read(key_hash))
            self._reading[key_hash] = reading
            reading.add_done_callback(self._read_done(key_hash))
        # Shielded: one waiter going away does not cancel the others' read.
        return await asyncio.shield(reading)

    def _read_done(self, key_hash: str) -> Callable[[asyncio.Future[Any]], None]:
        def done(reading: asyncio.Future[Any]) -> None:
            self._reading.pop(key_hash, None)
            if not reading.cancelled():
                reading.exception()  # retrieved: its waiters (if any are left) raise it

        return done

    async def _read(self, key_hash: str) -> Principal | None:
        async with self.db.read() as conn:
            row = await store.key_by_hash(conn, key_hash)
        principal = None
        if row is not None and row.revoked_at is None:
            principal = Principal(
                row.account_id, row.role, row.key_id, row.name, row.points_per_hour
            )
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[key_hash] = (time.monotonic() + self.ttl, principal)
        return principal
