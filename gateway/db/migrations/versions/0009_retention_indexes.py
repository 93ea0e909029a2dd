"""Retention: status history found by age

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:45:00.000000

The purge deletes an account's status changes older than a cutoff, a bounded batch at a
time; without an index on (account_id, at) each batch would read all of the account's history.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_integration_status_changes_account_id_at"),
        "integration_status_changes",
        ["account_id", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_integration_status_changes_account_id_at"),
        table_name="integration_status_changes",
    )
