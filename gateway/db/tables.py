"""The tables. Every row belongs to one account; engine IDs are unique per account only,
so every primary key starts with ``account_id`` and every index too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; UTC on both backends (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: give it an offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id(name: str, **kw: Any) -> Column[str]:
    return Column(name, String(128), **kw)


def _account() -> Column[str]:
    return Column("account_id", String(128), primary_key=True)


accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("auto_pause_after_failures", Integer, nullable=False, server_default="10"),
    Column("retention_days", Integer, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    # The key's hourly rate limit in points; null: the server's default.
    Column("points_per_hour", Integer, nullable=True),
    Index(None, "account_id", "created_at"),
)

apps = Table(
    "apps",
    metadata,
    _account(),
    _id("app_id", primary_key=True),
    Column("name", String(256), nullable=False),
    # Case-folded copy: SQLite's lower() folds ASCII only. Folding can triple the length.
    Column("name_folded", String(3 * 256), nullable=False),
    Column("icon_url", Text, nullable=True),
    Column("docs_url", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "account_id", "name_folded"),
)

flows = Table(
    "flows",
    metadata,
    _account(),
    _id("flow_id", primary_key=True),
    Column("name", String(256), nullable=False),
    Column("name_folded", String(3 * 256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("tasks_consumed", BigInteger, nullable=False, server_default="0"),
    Index(None, "account_id", "created_at", "flow_id"),
)

integrations = Table(
    "integrations",
    metadata,
    _account(),
    _id("integration_id", primary_key=True),
    _id("flow_id", nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("user_auth", String(256), nullable=True),
    # Case-folded copy of user_auth, matched whole by search (SQLite's lower() folds ASCII
    # only). Full case folding turns one character into at most three.
    Column("user_auth_folded", String(3 * 256), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status", String(24), nullable=False),
    Column("paused_reason", String(24), nullable=True),
    # When the engine's last applied status change happened: older engine events are ignored.
    Column("status_changed_at", UtcDateTime, nullable=False),
    # When it last stopped receiving triggers (entered DISABLED, PAUSED or DELETED from a
    # receiving status); null while it receives.
    Column("receiving_stopped_at", UtcDateTime, nullable=True),
    Column("last_run_start", UtcDateTime, nullable=True),
    _id("last_run_id", nullable=True),
    Column("last_run_status", String(16), nullable=False, server_default="HASNT_RUN"),
    Column("tasks_consumed", BigInteger, nullable=False, server_default="0"),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Index(None, "account_id", "flow_id", "created_at", "integration_id"),
    Index(None, "account_id", "flow_id", "last_run_start", "integration_id"),
    Index(None, "account_id", "flow_id", "user_id"),
    Index(None, "account_id", "flow_id", "status"),
    Index(None, "account_id", "user_id", "created_at", "integration_id"),
    Index(None, "account_id", "user_auth_folded"),
    # The account-wide list, in either order.
    Index(None, "account_id", "created_at", "integration_id"),
    Index(None, "account_id", "last_run_start", "integration_id"),
)

runs = Table(
    "runs",
    metadata,
    _account(),
    _id("run_id", primary_key=True),
    _id("integration_id", nullable=False),
    # Copied from the integration so flow- and account-wide run lists need no join.
    _id("flow_id", nullable=False),
    _id("trigger_app_id", nullable=False),
    Column("trigger_name", String(256), nullable=False),
    Column("trigger_type", String(16), nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("end_time", UtcDateTime, nullable=True),
    Column("duration_ms", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("network_code", Integer, nullable=True),
    Column("network_code_position", Integer, nullable=True),
    Column("tasks_consumed", Integer, nullable=False, server_default="0"),
    Index(None, "account_id", "integration_id", "start_time", "run_id"),
    Index(None, "account_id", "integration_id", "duration_ms", "run_id"),
    Index(None, "account_id", "flow_id", "start_time", "run_id"),
    Index(None, "account_id", "start_time", "run_id"),
    Index(None, "account_id", "trigger_app_id", "start_time"),
)

# A runFinished that arrived before its runStarted: applied when the run starts.
early_run_finishes = Table(
    "early_run_finishes",
    metadata,
    _account(),
    _id("run_id", primary_key=True),
    Column("status", String(16), nullable=False),
    Column("end_time", UtcDateTime, nullable=False),
)

steps = Table(
    "steps",
    metadata,
    _account(),
    _id("step_id", primary_key=True),
    _id("run_id", nullable=False),
    Column("position", Integer, nullable=False),
    _id("app_id", nullable=False),
    Column("name", String(256), nullable=False),
    Column("start_time", UtcDateTime, nullable=True),
    Column("end_time", UtcDateTime, nullable=True),
    Column("duration_ms", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("network_code", Integer, nullable=True),
    # 1 when the step finished OK: a task. Kept so a repeated stepFinished corrects counters.
    Column("tasks", Integer, nullable=False, server_default="0"),
    Column("has_payload", Boolean, nullable=False, server_default="0"),
    Index(None, "account_id", "run_id", "position", "step_id"),
)

payloads = Table(
    "payloads",
    metadata,
    _account(),
    _id("step_id", primary_key=True),
    Column("request_method", String(16), nullable=False),
    Column("request_url", Text, nullable=False),
    Column("request_headers", JSON, nullable=False),
    Column("request_body", Text, nullable=True),
    Column("request_size", Integer, nullable=False),
    Column("request_truncated", Boolean, nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("response_headers", JSON, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("response_size", Integer, nullable=True),
    Column("response_truncated", Boolean, nullable=True),
    Column("objects", JSON, nullable=False),
)

# Hourly buckets keyed by the run's start hour: rolling 24 h figures and charts.
flow_hours = Table(
    "flow_hours",
    metadata,
    _account(),
    _id("flow_id", primary_key=True),
    Column("hour", UtcDateTime, primary_key=True),
    Column("runs", Integer, nullable=False, server_default="0"),
    Column("failed_runs", Integer, nullable=False, server_default="0"),
    Column("tasks", Integer, nullable=False, server_default="0"),
)

# Every status change of an integration, in the order applied: who, when, from, to, why.
integration_status_changes = Table(
    "integration_status_changes",
    metadata,
    Column(
        "change_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("account_id", String(128), nullable=False),
    _id("integration_id", nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("from_status", String(24), nullable=True),
    Column("to_status", String(24), nullable=False),
    Column("reason", String(24), nullable=True),
    # KEY (an API key: name and role), ENGINE, AUTO_PAUSE or TASK_LIMIT.
    Column("actor_kind", String(16), nullable=False),
    Column("actor_name", String(128), nullable=False),
    Column("actor_role", String(16), nullable=True),
    Index(None, "account_id", "integration_id", "change_id"),
    # Retention finds the old ones.
    Index(None, "account_id", "at"),
)

# One row per end-user (the account's own user ID): all-time tasks, and the task limit with
# its current period. Created by the first integration of that user.
end_users = Table(
    "end_users",
    metadata,
    _account(),
    Column("user_id", String(256), primary_key=True),
    # A digest of user_id: a cursor-safe key (user IDs are any printable text).
    Column("user_key", String(40), nullable=False),
    Column("tasks_consumed", BigInteger, nullable=False, server_default="0"),
    Column("task_limit", BigInteger, nullable=True),
    Column("period_days", Integer, nullable=True),
    Column("period_start", UtcDateTime, nullable=True),
    Column("period_end", UtcDateTime, nullable=True),
    Column("period_tasks", BigInteger, nullable=False, server_default="0"),
    Column("last_active_at", UtcDateTime, nullable=False),
    Index(None, "account_id", "last_active_at", "user_key"),
    # The sweep that starts new periods looks across accounts.
    Index(None, "period_end"),
)

ingest_receipts = Table(
    "ingest_receipts",
    metadata,
    _account(),
    Column("event_id", String(256), primary_key=True),
    Column("received_at", UtcDateTime, nullable=False),
)

# Every committed change of status, in commit order per account: what subscriptions replay
# from an event's cursor (``seq``). Written by the unit of work in the transaction of the change.
change_log = Table(
    "change_log",
    metadata,
    _account(),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    _id("object_id", nullable=False),
    Column("status", String(32), nullable=False),
    Column("previous", String(32), nullable=True),
    Column("reason", String(32), nullable=True),
    Column("at", UtcDateTime, nullable=False),
    _id("flow_id", nullable=True),
    _id("integration_id", nullable=True),
    _id("run_id", nullable=True),
)

# Error notifications: one webhook endpoint per account, its signing secrets (the previous one
# keeps signing until previous_secret_until after a rotation), and why it was disabled.
notification_endpoints = Table(
    "notification_endpoints",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("webhook_url", Text, nullable=True),
    Column("enabled", Boolean, nullable=False, server_default="0"),
    # Null: every flow.
    Column("flow_ids", JSON, nullable=True),
    Column("min_interval_seconds", Integer, nullable=False, server_default="900"),
    Column("secret", String(128), nullable=True),
    Column("previous_secret", String(128), nullable=True),
    Column("previous_secret_until", UtcDateTime, nullable=True),
    # The first failed attempt since the last success; five days of failures disable.
    Column("failing_since", UtcDateTime, nullable=True),
    Column("disabled_reason", String(32), nullable=True),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The outbox: one row per notification, written in the transaction of the change that caused
# it. The body is serialised once, when first claimed, and sent as those bytes on every attempt.
notifications = Table(
    "notifications",
    metadata,
    Column(
        "notification_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("account_id", String(128), nullable=False),
    # The webhook-id header, stable across attempts; also the API's ID of the delivery.
    Column("webhook_id", String(64), nullable=False, unique=True),
    Column("type", String(48), nullable=False),
    # PENDING (waiting or retrying), DELIVERED or FAILED.
    Column("status", String(16), nullable=False),
    _id("flow_id", nullable=True),
    _id("integration_id", nullable=True),
    _id("run_id", nullable=True),
    Column("user_id", String(256), nullable=True),
    # What the body is built from: reason, task limit figures.
    Column("facts", JSON, nullable=False),
    # Failures folded into this one, and when the first and last happened.
    Column("count", Integer, nullable=False, server_default="1"),
    Column("first_occurred_at", UtcDateTime, nullable=False),
    Column("last_occurred_at", UtcDateTime, nullable=False),
    # Set once (task-limit notices: once per period and threshold).
    Column("dedup_key", String(200), nullable=True),
    Column("body", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Attempts since it was (re)queued: the retry schedule's position.
    Column("round_attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    # A claim: the worker that holds it until lease_until (then anyone may claim it again).
    Column("lease_until", UtcDateTime, nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("last_response_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "account_id", "notification_id"),
    Index(None, "account_id", "dedup_key", unique=True),
    Index(None, "finished_at"),
)

notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column(
        "attempt_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("account_id", String(128), nullable=False),
    Column("notification_id", BigInteger, nullable=False),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("response_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Index(None, "notification_id", "attempt_id"),
)

# Per integration: whether a failure was notified and not yet recovered, until when later
# failures fold, and the pending notification (by webhook_id) they fold into.
notification_integrations = Table(
    "notification_integrations",
    metadata,
    _account(),
    _id("integration_id", primary_key=True),
    Column("failing", Boolean, nullable=False, server_default="0"),
    Column("fold_until", UtcDateTime, nullable=True),
    Column("pending_webhook_id", String(64), nullable=True),
)
