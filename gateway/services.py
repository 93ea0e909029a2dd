"""The long-lived parts of one gateway process, built once and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.auth.authenticate import Authenticator
from gateway.config import Settings
from gateway.db import changelog
from gateway.db.engine import Database
from gateway.ingest.redaction import Redactor
from gateway.lifecycle import Lifecycle
from gateway.links import Links
from gateway.live.broker import Broker, MemoryBroker
from gateway.live.changes import Change
from gateway.live.redis_broker import RedisBroker
from gateway.live.streams import FreshRows
from gateway.metrics import Metrics
from gateway.notifications.worker import Deliverer
from gateway.ratelimit.limiter import RateLimiter


@dataclass
class Services:
    settings: Settings
    db: Database
    authenticator: Authenticator
    redactor: Redactor
    links: Links
    metrics: Metrics
    broker: Broker
    notifier: Deliverer
    # Loads of the objects of live changes, shared by the subscribers delivering them.
    fresh_rows: FreshRows
    # None when GATEWAY_RATE_LIMITS=false.
    rate_limiter: RateLimiter | None = None
    # How the process stops; parts with work to wind down register hooks here.
    lifecycle: Lifecycle = field(default_factory=Lifecycle)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        db = Database.from_url(
            settings.database_url, statement_timeout=settings.statement_timeout_seconds or None
        )

        async def backfill(account_id: str, low: int, high: int) -> list[Change]:
            async with db.read() as conn:
                return await changelog.between(conn, account_id, low, high)

        broker: Broker = (
            RedisBroker(settings.redis_url, backfill=backfill)
            if settings.redis_url
            else MemoryBroker(backfill=backfill)
        )
        # Every committed unit of work hands its changes to the broker.
        db.publisher = broker.publish
        links = Links(
            base=settings.dashboard_base_url,
            integration_template=settings.integration_url_template,
            run_template=settings.run_url_template,
            logs_template=settings.logs_url_template,
        )
        notifier = Deliverer(
            db,
            links,
            allow_http=settings.notifications_allow_http,
            allow_private=settings.notifications_allow_private_urls,
            lease_seconds=settings.notifications_lease_seconds,
            retention_days=settings.notifications_retention_days,
        )
        # A commit that queued notifications wakes this process's worker.
        db.on_outbox = notifier.wake
        metrics = Metrics()
        metrics.gauge(
            "gateway_subscriptions_open",
            "Subscriptions this process serves (their streams of changes).",
            broker.subscriber_count,
        )
        if isinstance(broker, RedisBroker):
            broker.observe_lag = metrics.broker_lag.observe
        metrics.gauge(
            "gateway_outbox_pending",
            "Notifications waiting to be delivered (read every few seconds).",
            lambda: notifier.pending,
        )
        metrics.gauge(
            "gateway_outbox_oldest_pending_seconds",
            "Age of the oldest notification waiting to be delivered (0 when none).",
            notifier.oldest_pending_age,
        )
        notifier.on_attempt = lambda result: metrics.notification_attempts.labels(result).inc()
        services = cls(
            settings=settings,
            db=db,
            authenticator=Authenticator(db, ttl=settings.key_cache_seconds),
            redactor=Redactor(
                extra_name_words=tuple(w.lower() for w in settings.redact_name_words),
                extra_value_patterns=tuple(settings.redact_value_patterns),
            ),
            links=links,
            metrics=metrics,
            broker=broker,
            notifier=notifier,
            fresh_rows=FreshRows(db),
            rate_limiter=RateLimiter.from_settings(settings),
        )
        # Stopping: delivery rounds claim nothing new, those under way finish (the app's
        # lifespan waits for them), and the claims of any cut short are handed back.
        services.lifecycle.on_drain(notifier.stop_claiming)
        services.lifecycle.on_close(notifier.release)
        return services

    async def close(self) -> None:
        if self.rate_limiter is not None:
            await self.rate_limiter.close()
        await self.broker.close()
        await self.notifier.close()
        await self.db.dispose()
