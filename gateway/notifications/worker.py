"""The delivery worker: claims due notifications, POSTs them signed, records each attempt.

One runs in every server process; claims (see ``store``) keep two workers off one notification.
An attempt succeeds on a 2xx answer. Anything else is a failure: another status, a redirect
(never followed), a timeout (5 s to connect, 15 s in all), a refused connection or an address
the rules refuse. 410 Gone disables the endpoint. Failures are retried on the Standard Webhooks
schedule with jitter (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), then the notification is
FAILED; an endpoint that has failed for five days without a success is disabled.

The clock and the jitter are injectable, so tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import exc

from gateway import tracing
from gateway.db.engine import Database, OutageLog, is_unreachable
from gateway.links import Links
from gateway.notifications import signing, store
from gateway.notifications.addresses import RefusedUrl, split_url
from gateway.notifications.outbox import is_active
from gateway.notifications.payloads import build_bodies
from gateway.notifications.transport import PinnedTransport

log = logging.getLogger("gateway.notifications")

# Delays after the 1st, 2nd, … failed attempt; after the last, the notification is FAILED.
SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.1  # each delay is stretched or shrunk by up to this share
FAILING_DISABLES_AFTER = timedelta(days=5)
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
RESPONSE_READ_CAP = 64 * 1024
ERROR_TEXT_MAX = 500
CLAIM_BATCH = 20
LANES = 4
# How often the outbox's depth is read for the metrics.
STATS_SECONDS = 5.0
PRUNE_EVERY = timedelta(minutes=10)
PRUNE_BATCH = 1000

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def _jitter() -> float:
    return random.uniform(1 - JITTER, 1 + JITTER)


@dataclass(frozen=True, slots=True)
class Attempt:
    code: int | None
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def gone(self) -> bool:
        return self.code == 410


class Deliverer:
    def __init__(
        self,
        db: Database,
        links: Links,
        *,
        allow_http: bool = False,
        allow_private: bool = False,
        lease_seconds: float = 60.0,
        retention_days: float = 7.0,
        clock: Clock = _now,
        jitter: Callable[[], float] = _jitter,
        transport: httpx.AsyncBaseTransport | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        total_timeout: float = TOTAL_TIMEOUT,
    ) -> None:
        self.db = db
        self.links = links
        # Claims whose outcomes are not recorded yet (released when the server stops).
        self._claims: set[str] = set()
        self._settled = asyncio.Event()  # set when a round's claim is done with
        self._stopping = False
        # For metrics: the outbox as last read (``run`` reads it every STATS_SECONDS), and
        # a hook told each attempt's result ("delivered", "failed", "gone").
        self.pending = 0
        self.oldest_pending: datetime | None = None
        self.on_attempt: Callable[[str], None] | None = None
        self.allow_http = allow_http
        self.lease = timedelta(seconds=lease_seconds)
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self.jitter = jitter
        self.total_timeout = total_timeout
        self.client = httpx.AsyncClient(
            transport=transport or PinnedTransport(allow_private=allow_private),
            follow_redirects=False,
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            headers={"user-agent": "integration-view-gateway-webhooks"},
        )
        self._wake = asyncio.Event()
        self._last_prune: datetime | None = None
        self._outage = OutageLog(log, "notification delivery")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        await self.client.aclose()

    # claims ---------------------------------------------------------------------------

    async def claim(
        self, limit: int = CLAIM_BATCH, webhook_ids: Sequence[str] | None = None
    ) -> tuple[str, list[Any], dict[str, Any]]:
        """Leases due notifications to a new token, serialising the bodies of those claimed
        for the first time; returns (token, rows, endpoints by account)."""
        token = secrets.token_hex(16)
        now = self.clock()
        # A read first: an idle round takes no write lock (SQLite has only one).
        async with self.db.read() as conn:
            if not await store.any_due(conn, now, webhook_ids):
                return token, [], {}
        async with self.db.transaction() as conn:
            rows = await store.claim(conn, now, now + self.lease, token, limit, webhook_ids)
            unserialised = [row for row in rows if row.body is None]
            bodies = await build_bodies(conn, unserialised, self.links)
            await store.set_bodies(conn, {k: v.decode() for k, v in bodies.items()})
            if unserialised:
                rows = await store.by_ids(conn, [row.notification_id for row in rows])
            endpoints = await store.endpoints(conn, {r.account_id for r in rows})
        return token, rows, endpoints

    async def run_once(self, webhook_ids: Sequence[str] | None = None) -> int:
        """One round: claims what is due, delivers it (concurrently), records the outcomes in
        one transaction. Returns how many notifications it attempted."""
        if self._stopping:
            return 0
        token, rows, endpoints = await self.claim(webhook_ids=webhook_ids)
        if not rows:
            return 0
        self._claims.add(token)
        try:
            if tracing.tracer is None:
                await self._deliver_claimed(token, rows, endpoints)
            else:
                attributes = {"gateway.notifications": len(rows)}
                with tracing.span("notifications deliver", attributes):
                    await self._deliver_claimed(token, rows, endpoints)
        except asyncio.CancelledError:
            raise  # stopped: the claim stays for release()
        except BaseException:
            self._done_with(token)
            raise
        self._done_with(token)
        return len(rows)

    def _done_with(self, token: str) -> None:
        self._claims.discard(token)
        self._settled.set()

    async def _deliver_claimed(
        self, token: str, rows: list[Any], endpoints: dict[str, Any]
    ) -> None:
        now = self.clock()
        attempts = await asyncio.gather(
            *(self._attempt(row, endpoints.get(row.account_id), now) for row in rows)
        )
        await self._record(token, list(zip(rows, attempts, strict=True)), endpoints, now)

    async def stop_claiming(self) -> None:
        """The server is stopping: no new round claims anything (the rounds under way go on)."""
        self._stopping = True

    async def settle(self) -> None:
        """Waits for the rounds under way to record their outcomes, so that stopping resends
        nothing a receiver already answered (bound it with ``asyncio.timeout``)."""
        while self._claims:
            self._settled.clear()
            await self._settled.wait()

    async def release(self) -> None:
        """Hands back the claims of rounds that were stopped before their outcome was recorded
        (the server is stopping): another process sends them now, with the same webhook-id,
        instead of after their lease. One a receiver already got is sent again: receivers
        drop repeats by webhook-id."""
        tokens, self._claims = sorted(self._claims), set()
        if not tokens:
            return
        async with self.db.transaction() as conn:
            released = await store.release(conn, tokens)
        if released:
            log.info("notifications: %d claimed notification(s) handed back on stop", released)

    # one attempt ----------------------------------------------------------------------

    async def deliver(self, token: str, row: Any, endpoint: Any) -> Attempt:
        """Attempts one claimed notification and records the outcome under ``token``."""
        now = self.clock()
        attempt = await self._attempt(row, endpoint, now)
        await self._record(token, [(row, attempt)], {row.account_id: endpoint}, now)
        return attempt

    async def _attempt(self, row: Any, endpoint: Any, now: datetime) -> Attempt:
        if tracing.tracer is None:
            return await self._try(row, endpoint, now)
        attributes = {
            "gateway.account": row.account_id,
            "gateway.webhook_id": row.webhook_id,
            "gateway.attempt": row.attempts + 1,
        }
        url = getattr(endpoint, "webhook_url", None)
        host = urlsplit(url).hostname if url else None
        if host:
            attributes["server.address"] = host
        with tracing.span("notification delivery", attributes, kind="CLIENT") as current:
            attempt = await self._try(row, endpoint, now)
            if attempt.code is not None:
                current.set_attribute("http.response.status_code", attempt.code)
            outcome = "delivered" if attempt.ok else "gone" if attempt.gone else "failed"
            current.set_attribute("gateway.outcome", outcome)
            if not attempt.ok:
                tracing.fail(current, outcome)
        return attempt

    async def _try(self, row: Any, endpoint: Any, now: datetime) -> Attempt:
        if not is_active(endpoint):
            return Attempt(None, "error notifications are off for the account", 0)
        return await self._post(row, endpoint, now)

    async def _post(self, row: Any, endpoint: Any, now: datetime) -> Attempt:
        body = row.body.encode()
        timestamp = int(now.timestamp())
        keys = [endpoint.secret]
        until = endpoint.previous_secret_until
        if endpoint.previous_secret and until is not None and until > now:
            keys.append(endpoint.previous_secret)
        headers = signing.headers(keys, row.webhook_id, timestamp, body)
        started = time.monotonic()

        def took() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            split_url(endpoint.webhook_url, self.allow_http)
            async with asyncio.timeout(self.total_timeout):
                async with self.client.stream(
                    "POST", endpoint.webhook_url, content=body, headers=headers
                ) as response:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read >= RESPONSE_READ_CAP:
                            break
                    code = response.status_code
                    location = response.headers.get("location")
        except RefusedUrl as error:
            return Attempt(None, str(error), took())
        except TimeoutError:
            return Attempt(None, f"no answer within {self.total_timeout:g} s", took())
        except httpx.TimeoutException as error:
            return Attempt(None, f"timed out: {type(error).__name__}", took())
        except httpx.HTTPError as error:
            text = str(error) or type(error).__name__
            return Attempt(None, text[:ERROR_TEXT_MAX], took())
        except (httpx.InvalidURL, UnicodeError, ValueError) as error:
            # A host the sender cannot spell (IDNA), or a name the resolver refuses: this
            # notification's attempt fails; the round's others go on.
            return Attempt(None, f"the URL cannot be sent to: {type(error).__name__}", took())
        if 300 <= code < 400:
            where = f" to {location[:300]}" if location else ""
            return Attempt(code, f"redirect{where} not followed", took())
        if 200 <= code < 300:
            return Attempt(code, None, took())
        return Attempt(code, f"HTTP {code}", took())

    def _outcome(self, row: Any, attempt: Attempt, endpoint: Any, now: datetime) -> Any:
        """The row's new values and its attempt's row."""
        round_attempts = row.round_attempts + 1
        values: dict[str, Any] = {
            "attempts": row.attempts + 1,
            "round_attempts": round_attempts,
            "last_response_code": attempt.code,
            "last_error": attempt.error,
        }
        next_at: datetime | None = None
        if attempt.ok:
            values.update(status="DELIVERED", next_attempt_at=None, finished_at=now)
        elif attempt.gone or not is_active(endpoint) or round_attempts > len(SCHEDULE):
            values.update(status="FAILED", next_attempt_at=None, finished_at=now)
        else:
            delay = SCHEDULE[round_attempts - 1] * self.jitter()
            next_at = now + timedelta(seconds=delay)
            values.update(status="PENDING", next_attempt_at=next_at, finished_at=None)
        attempt_row = {
            "account_id": row.account_id,
            "notification_id": row.notification_id,
            "attempted_at": now,
            "response_code": attempt.code,
            "latency_ms": attempt.latency_ms,
            "error": attempt.error,
            "next_attempt_at": next_at,
        }
        return values, attempt_row

    async def _record(
        self,
        token: str,
        outcomes: list[tuple[Any, Attempt]],
        endpoints: dict[str, Any],
        now: datetime,
    ) -> None:
        # One outcome per account decides the endpoint's state: a success if there was one.
        by_account: dict[str, Attempt] = {}
        rows_out = []
        for row, attempt in outcomes:
            if self.on_attempt is not None:
                self.on_attempt(
                    "delivered" if attempt.ok else "gone" if attempt.gone else "failed"
                )
            values, attempt_row = self._outcome(row, attempt, endpoints.get(row.account_id), now)
            rows_out.append((row.notification_id, values, attempt_row))
        async with self.db.transaction() as conn:
            lost = await store.finish_attempts(conn, token, rows_out)
            for row, attempt in outcomes:
                if row.notification_id in lost:
                    log.warning("notification %s: claim lost before its outcome", row.webhook_id)
                    continue
                seen = by_account.get(row.account_id)
                if seen is None or (attempt.ok and not seen.ok) or attempt.gone:
                    by_account[row.account_id] = attempt
                if not attempt.ok:
                    log.info(
                        "notification %s to account %s failed: %s",
                        row.webhook_id,
                        row.account_id,
                        attempt.error,
                    )
            for account_id, attempt in by_account.items():
                endpoint = endpoints.get(account_id)
                if is_active(endpoint):
                    await self._endpoint_outcome(conn, account_id, endpoint, attempt, now)

    async def _endpoint_outcome(
        self, conn: Any, account_id: str, endpoint: Any, attempt: Attempt, now: datetime
    ) -> None:
        if attempt.ok:
            if endpoint.failing_since is not None:
                await store.update_endpoint(conn, account_id, failing_since=None)
            return
        current = await store.endpoint(conn, account_id)
        if current is None or not current.enabled:
            return
        if attempt.gone:
            await store.update_endpoint(
                conn, account_id, enabled=False, disabled_reason="GONE", disabled_at=now
            )
            log.warning("account %s: webhook answered 410 Gone; disabled", account_id)
            return
        since = current.failing_since or now
        if now - since >= FAILING_DISABLES_AFTER:
            await store.update_endpoint(
                conn,
                account_id,
                enabled=False,
                disabled_reason="FAILING",
                disabled_at=now,
            )
            log.warning("account %s: webhook failing for 5 days; disabled", account_id)
        elif current.failing_since is None:
            await store.update_endpoint(conn, account_id, failing_since=now)

    # upkeep ---------------------------------------------------------------------------

    async def prune(self) -> int:
        """Deletes notifications delivered longer ago than the retention."""
        removed = 0
        older_than = self.clock() - self.retention
        while True:
            async with self.db.transaction() as conn:
                n = await store.prune_delivered(conn, older_than, PRUNE_BATCH)
            removed += n
            if n < PRUNE_BATCH:
                return removed

    async def run(self, poll_seconds: float = 1.0, lanes: int = LANES) -> None:
        """Forever: deliver what is due, waking at once when a write queues something, in
        ``lanes`` rounds at a time (each claims its own rows), so one slow receiver does not
        hold up the others."""
        tasks = [asyncio.create_task(self._lane(poll_seconds, i == 0)) for i in range(lanes)]
        tasks.append(asyncio.create_task(self._read_stats()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            # Let each lane unwind (roll back, return its connection) before the caller goes on.
            await asyncio.gather(*tasks, return_exceptions=True)

    def oldest_pending_age(self) -> float:
        """Seconds since the oldest waiting notification's first occurrence (0 when none)."""
        if self.oldest_pending is None:
            return 0.0
        return max(0.0, (self.clock() - self.oldest_pending).total_seconds())

    async def _read_stats(self) -> None:
        while True:
            try:
                async with self.db.read() as conn:
                    self.pending, self.oldest_pending = await store.pending(conn)
            except Exception as error:  # the figures wait for the next read; never stop
                if not is_unreachable(error) and not isinstance(error, exc.DBAPIError):
                    log.exception("notification outbox figures could not be read")
            await asyncio.sleep(STATS_SECONDS)

    async def _lane(self, poll_seconds: float, prunes: bool) -> None:
        while True:
            attempted = 0
            try:
                attempted = await self.run_once()
                now = self.clock()
                last = self._last_prune
                if prunes and (last is None or now - last >= PRUNE_EVERY):
                    self._last_prune = now
                    await self.prune()
                self._outage.succeeded()
            except Exception as error:  # the next round tries again; claims left expire
                if self._outage.failed(error):
                    pass
                elif isinstance(error, exc.DBAPIError):  # the database is busy
                    log.warning("notification delivery round failed: %s", error.orig)
                else:
                    log.exception("notification delivery round failed")
            if attempted:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_seconds)
            self._wake.clear()
