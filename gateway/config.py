"""Settings, read from ``GATEWAY_*`` environment variables and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The async drivers the gateway runs on, by backend.
_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_URL_FORMS = "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./gateway.db"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    dashboard_base_url: str = "https://app.example.com"
    # Placeholders: {accountId}, {flowId}, {integrationId}, {runId}.
    integration_url_template: str = "{base}/flows/{flowId}/integrations/{integrationId}/runs"
    run_url_template: str = "{base}/flows/{flowId}/integrations/{integrationId}/runs/{runId}"
    logs_url_template: str | None = "{base}/logs?runId={runId}"

    cors_origins: list[str] = Field(default_factory=list)
    websocket_origins: list[str] = Field(default_factory=list)
    # Operations one WebSocket connection may run at once; past it, that operation is refused.
    max_subscriptions_per_connection: int = Field(default=100, ge=1)
    # A WebSocket that sends no connection_init within this time is closed (4408).
    websocket_init_timeout_seconds: float = Field(default=10.0, gt=0)
    # permessage-deflate for WebSockets: events are a few hundred bytes, and a compressor and
    # decompressor per connection cost far more memory than they save bandwidth.
    websocket_deflate: bool = False

    max_body_bytes: int = 1024 * 1024
    max_response_bytes: int = 16 * 1024 * 1024
    request_timeout_seconds: float = 10.0
    statement_timeout_seconds: float = 10.0
    max_ingest_body_bytes: int = 16 * 1024 * 1024
    payload_body_limit_bytes: int = 256 * 1024
    # How far ahead of the server clock an event's times may be (engine clocks drift).
    ingest_max_future_skew_seconds: float = Field(default=3600.0, ge=0)
    redact_name_words: list[str] = Field(default_factory=list)
    redact_value_patterns: list[str] = Field(default_factory=list)

    key_cache_seconds: float = 5.0
    # Rate limits per API key: query points per hour (a key's own --points-per-hour wins) and
    # per minute; ingestEvents by events per second. Shared through Redis when it is set.
    rate_limits: bool = True
    rate_limit_points_per_hour: int = Field(default=5000, ge=1)
    rate_limit_points_per_minute: int = Field(default=1000, ge=1)
    rate_limit_ingest_events_per_second: int = Field(default=2000, ge=1)
    # When set, /metrics wants ``Authorization: Bearer <token>``; unset or empty: open.
    metrics_token: SecretStr | None = None
    # Query operations the planned executor answers skip graphql-core's per-field resolution;
    # off: every operation goes through strawberry.
    planner: bool = True
    graphiql: bool = True
    console: bool = True
    retention_days: int = Field(default=30, ge=0, le=36_600)
    # How often the server purges what each account's retentionDays no longer keeps; 0: never.
    retention_sweep_seconds: float = Field(default=3600.0, ge=0)
    # Runs (with their steps and payloads), or other rows, deleted per purge transaction.
    purge_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Between two purge batches: the account's writes and everyone's reads get the machine.
    purge_pause_seconds: float = Field(default=0.02, ge=0, le=10)
    period_sweep_seconds: float = 60.0
    # On SIGTERM: how long requests under way may take to finish before they are cancelled.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # One line per request and per log record: plain text, or one JSON object a line.
    log_format: Literal["text", "json"] = "text"
    # OpenTelemetry traces, sent over OTLP/HTTP (http://HOST:4318); unset: off, at no cost.
    otel_endpoint: str | None = None
    otel_service_name: str = "integration-view-gateway"

    # Error notifications (webhooks). http URLs, and URLs of loopback, private or link-local
    # addresses, are refused unless these allow them (a local receiver in development).
    notifications_allow_http: bool = False
    notifications_allow_private_urls: bool = False
    # A claimed notification whose worker has not answered by then is sent again.
    notifications_lease_seconds: float = Field(default=60.0, ge=20)
    # How often the worker looks for due retries (new notifications wake it at once).
    notifications_poll_seconds: float = Field(default=1.0, gt=0)
    # Delivered notifications are deleted after this many days.
    notifications_retention_days: float = Field(default=7.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, url: str) -> str:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError(f"is not a database URL; use {_URL_FORMS}") from None
        if _DRIVERS.get(parsed.get_backend_name()) != parsed.get_driver_name():
            shown = parsed.render_as_string(hide_password=True)
            raise ValueError(f"{shown!r} has no supported async driver; use {_URL_FORMS}")
        path = parsed.database
        if parsed.get_backend_name() == "sqlite" and path and path != ":memory:":
            folder = Path(path).expanduser().parent
            if not folder.is_dir():
                raise ValueError(f"the database folder {str(folder)!r} does not exist")
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if not url:
            return None  # unset or empty: the in-process broker
        if url.partition("://")[0] not in ("redis", "rediss", "unix"):
            raise ValueError("is not a Redis URL; use redis://HOST:PORT/DB (or rediss://, unix://)")
        return url

    @field_validator("otel_endpoint")
    @classmethod
    def _otel_endpoint(cls, url: str | None) -> str | None:
        if not url:
            return None  # unset or empty: no traces
        if url.partition("://")[0] not in ("http", "https"):
            raise ValueError("is not an OTLP/HTTP URL; use http://HOST:4318 (or https://)")
        return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
