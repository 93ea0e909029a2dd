"""The long-lived parts of one gateway process, built once and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth.authenticate import Authenticator
from gateway.config import Settings
from gateway.db.engine import Database
from gateway.ingest.redaction import Redactor
from gateway.links import Links
from gateway.live.broker import Broker, MemoryBroker
from gateway.live.redis_broker import RedisBroker
from gateway.metrics import Metrics
from gateway.notifications.worker import Deliverer


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

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        db = Database.from_url(
            settings.database_url, statement_timeout=settings.statement_timeout_seconds or None
        )
        broker: Broker = RedisBroker(settings.redis_url) if settings.redis_url else MemoryBroker()
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
        return cls(
            settings=settings,
            db=db,
            authenticator=Authenticator(db, ttl=settings.key_cache_seconds),
            redactor=Redactor(
                extra_name_words=tuple(w.lower() for w in settings.redact_name_words),
                extra_value_patterns=tuple(settings.redact_value_patterns),
            ),
            links=links,
            metrics=Metrics(),
            broker=broker,
            notifier=notifier,
        )

    async def close(self) -> None:
        await self.broker.close()
        await self.notifier.close()
        await self.db.dispose()
