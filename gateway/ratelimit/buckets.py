"""Token buckets: in this process, or in Redis so that every gateway process draws on one.

A bucket holds at most ``capacity`` tokens and refills at ``rate`` tokens a second; taking
``cost`` tokens succeeds when every bucket of the call holds that many, and then takes them
from all of them, or from none. In Redis that check-and-take is one Lua script (atomic: the
processes sharing a key's buckets never both spend its last points) and its clock is Redis's
own ``TIME``, so processes whose clocks disagree still agree on the buckets.

A Redis that cannot be reached does not stop the API: ``take`` answers ``None`` (not limited),
with one warning line per outage, and Redis is not asked again for a second, so requests do
not each wait for its timeout.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.live.redis_broker import redacted

log = logging.getLogger("gateway.ratelimit")


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    capacity: float
    rate: float  # tokens per second


@dataclass(frozen=True, slots=True)
class Taken:
    """The outcome of one ``take``: whether it was allowed, and each bucket's tokens after it."""

    allowed: bool
    now: float  # Unix seconds, by the clock that kept the buckets
    tokens: tuple[float, ...]

    def wait(self, buckets: list[Bucket], cost: float) -> float:
        """Seconds until every bucket holds ``cost`` (inf when one never can)."""
        waits = []
        for bucket, tokens in zip(buckets, self.tokens, strict=True):
            if cost > bucket.capacity:
                return math.inf
            waits.append(max(0.0, cost - tokens) / bucket.rate)
        return max(waits, default=0.0)


class BucketStore(Protocol):
    async def take(self, buckets: list[Bucket], cost: float) -> Taken | None: ...

    async def close(self) -> None: ...


class MemoryBuckets:
    """One process's buckets. Checked and taken without an ``await``, so atomic in the loop."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._levels: dict[str, tuple[float, float]] = {}
        self._max_entries = max_entries

    async def take(self, buckets: list[Bucket], cost: float) -> Taken:
        now = time.time()
        levels = []
        for bucket in buckets:
            tokens, at = self._levels.get(bucket.key, (bucket.capacity, now))
            levels.append(min(bucket.capacity, tokens + max(0.0, now - at) * bucket.rate))
        allowed = all(level >= cost for level in levels)
        if allowed:
            levels = [level - cost for level in levels]
        if len(self._levels) >= self._max_entries:
            self._levels.clear()  # a full bucket is what a forgotten one becomes anyway
        for bucket, level in zip(buckets, levels, strict=True):
            self._levels[bucket.key] = (level, now)
        return Taken(allowed, now, tuple(levels))

    async def close(self) -> None:
        self._levels.clear()


# KEYS: the buckets; ARGV: cost, then capacity and rate of each bucket.
# Returns {allowed (0/1), now, tokens of each bucket...}, numbers as strings (Lua numbers
# would come back as integers).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost = tonumber(ARGV[1])
local levels = {}
local allowed = 1
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i])
  local rate = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local level = capacity
  if state[1] then
    level = math.min(capacity, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
  end
  levels[i] = level
  if level < cost then allowed = 0 end
end
local out = {allowed, tostring(now)}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i])
  local rate = tonumber(ARGV[2 * i + 1])
  if allowed == 1 then levels[i] = levels[i] - cost end
  redis.call('HSET', KEYS[i], 'tokens', tostring(levels[i]), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((capacity - levels[i]) / rate * 1000) + 1000)
  out[#out + 1] = tostring(levels[i])
end
return out
"""


class RedisBuckets:
    """Buckets in Redis, shared by every process that uses the same Redis and prefix."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gateway",
        timeout: float = 0.25,
        retry_after: float = 1.0,
        max_connections: int = 16,
    ) -> None:
        self.prefix = f"{prefix}:ratelimit"
        self.where = redacted(url)
        # A burst of requests waits (up to a second) for one of a few connections, rather than
        # opening one each or failing open as if Redis were down.
        self._pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=1.0,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._client: Redis = Redis(connection_pool=self._pool)
        self._script: Any = self._client.register_script(_TAKE)
        self._retry_after = retry_after
        self._down_until: float | None = None  # set while Redis is unreachable

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    async def take(self, buckets: list[Bucket], cost: float) -> Taken | None:
        now = time.monotonic()
        if self._down_until is not None and now < self._down_until:
            return None
        args: list[float] = [cost]
        for bucket in buckets:
            args += [bucket.capacity, bucket.rate]
        try:
            reply = await self._script(keys=[self.key(b.key) for b in buckets], args=args)
        except (RedisError, OSError) as error:
            if self._down_until is None:
                log.warning(
                    "rate limits: Redis at %s is unreachable (%s); operations are not limited"
                    " until it is back",
                    self.where,
                    type(error).__name__,
                )
            self._down_until = now + self._retry_after
            return None
        if self._down_until is not None:
            log.info("rate limits: Redis at %s is back; operations are limited again", self.where)
            self._down_until = None
        allowed, at, *levels = reply
        return Taken(int(allowed) == 1, float(at), tuple(float(level) for level in levels))

    async def close(self) -> None:
        await self._client.aclose()
        await self._pool.disconnect()
