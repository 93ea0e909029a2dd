"""The long-lived parts of one gateway process, built once and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth.authenticate import Authenticator
from gateway.config import Settings
from gateway.db import changelog
from gateway.db.engine import Database
from gateway.ingest.redaction import Redactor
from gateway.links import Links
from gateway.live.broker import Broker, MemoryBroker
from gateway.live.changes import Change
from gateway.live.redis_broker import RedisBroker
from gateway.live.streams import FreshRows
from gateway.metrics import Metrics


@dataclass
class Services:
    settings: Settings
    db: Database
    authenticator: Authenticator
    redactor: Redactor
    links: Links
    metrics: Metrics
    broker: Broker
    # The object of each recent change, loaded once for all its subscribers in this process.
    fresh_rows: FreshRows

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
        return cls(
            settings=settings,
            db=db,
            authenticator=Authenticator(db, ttl=settings.key_cache_seconds),
            redactor=Redactor(
                extra_name_words=tuple(w.lower() for w in settings.redact_name_words),
                extra_value_patterns=tuple(settings.redact_value_patterns),
            ),
            links=Links(
                base=settings.dashboard_base_url,
                integration_template=settings.integration_url_template,
                run_template=settings.run_url_template,
                logs_template=settings.logs_url_template,
            ),
            metrics=Metrics(),
            broker=broker,
            fresh_rows=FreshRows(db),
        )

    async def close(self) -> None:
        await self.broker.close()
        await self.db.dispose()
