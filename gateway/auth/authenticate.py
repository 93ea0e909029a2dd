"""From an ``Authorization`` header to a Principal, with a short cache so that steady traffic
costs no SQL. A revoke takes effect within ``ttl`` seconds on every process."""

from __future__ import annotations

import time

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
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db.read() as conn:
            row = await store.key_by_hash(conn, key_hash)
        principal = None
        if row is not None and row.revoked_at is None:
            principal = Principal(
                row.account_id, row.role, row.key_id, row.name, row.points_per_hour
            )
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[key_hash] = (now + self.ttl, principal)
        return principal
