"""notifications: endpoints, outbox, attempts, fold state

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.db.tables

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_attempts",
        sa.Column(
            "attempt_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("attempted_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_notification_attempts")),
    )
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_attempts_notification_id_attempt_id"),
            ["notification_id", "attempt_id"],
            unique=False,
        )

    op.create_table(
        "notification_endpoints",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("flow_ids", sa.JSON(), nullable=True),
        sa.Column("min_interval_seconds", sa.Integer(), server_default="900", nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=True),
        sa.Column("previous_secret", sa.String(length=128), nullable=True),
        sa.Column(
            "previous_secret_until", gateway.db.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("failing_since", gateway.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.String(length=32), nullable=True),
        sa.Column("disabled_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_notification_endpoints")),
    )
    op.create_table(
        "notification_integrations",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("integration_id", sa.String(length=128), nullable=False),
        sa.Column("failing", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("fold_until", gateway.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("pending_webhook_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint(
            "account_id", "integration_id", name=op.f("pk_notification_integrations")
        ),
    )
    op.create_table(
        "notifications",
        sa.Column(
            "notification_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("flow_id", sa.String(length=128), nullable=True),
        sa.Column("integration_id", sa.String(length=128), nullable=True),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "first_occurred_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("last_occurred_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("round_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("lease_until", gateway.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("created_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", gateway.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_response_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_notifications_webhook_id")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_account_id_dedup_key"),
            ["account_id", "dedup_key"],
            unique=True,
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_account_id_notification_id"),
            ["account_id", "notification_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_finished_at"), ["finished_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_status_next_attempt_at"),
            ["status", "next_attempt_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_status_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_notifications_finished_at"))
        batch_op.drop_index(batch_op.f("ix_notifications_account_id_notification_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_account_id_dedup_key"))

    op.drop_table("notifications")
    op.drop_table("notification_integrations")
    op.drop_table("notification_endpoints")
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_attempts_notification_id_attempt_id"))

    op.drop_table("notification_attempts")
