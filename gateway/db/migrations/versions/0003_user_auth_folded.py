"""userAuth matched case-insensitively; account-wide integration lists

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 18:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL_CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_auth_folded", sa.String(length=768), nullable=True))
        batch_op.drop_index(batch_op.f("ix_integrations_account_id_flow_id_user_auth"))
        batch_op.create_index(
            batch_op.f("ix_integrations_account_id_user_auth_folded"),
            ["account_id", "user_auth_folded"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_integrations_account_id_created_at_integration_id"),
            ["account_id", "created_at", "integration_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_integrations_account_id_last_run_start_integration_id"),
            ["account_id", "last_run_start", "integration_id"],
            unique=False,
        )
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integrations_account_id_last_run_start_integration_id"))
        batch_op.drop_index(batch_op.f("ix_integrations_account_id_created_at_integration_id"))
        batch_op.drop_index(batch_op.f("ix_integrations_account_id_user_auth_folded"))
        batch_op.create_index(
            batch_op.f("ix_integrations_account_id_flow_id_user_auth"),
            ["account_id", "flow_id", "user_auth"],
            unique=False,
        )
        batch_op.drop_column("user_auth_folded")


def _backfill() -> None:
    """Fold in Python: neither backend's lower() is Unicode case folding (SQLite's folds ASCII
    only, PostgreSQL's keeps "ß")."""
    integrations = sa.table(
        "integrations",
        sa.column("account_id"),
        sa.column("integration_id"),
        sa.column("user_auth"),
        sa.column("user_auth_folded"),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            integrations.c.account_id, integrations.c.integration_id, integrations.c.user_auth
        ).where(integrations.c.user_auth.is_not(None))
    ).all()
    update = (
        integrations.update()
        .where(
            integrations.c.account_id == sa.bindparam("key_account"),
            integrations.c.integration_id == sa.bindparam("key_integration"),
        )
        .values(user_auth_folded=sa.bindparam("folded"))
    )
    for start in range(0, len(rows), _BACKFILL_CHUNK):
        bind.execute(
            update,
            [
                {"key_account": account, "key_integration": key, "folded": auth.casefold()}
                for account, key, auth in rows[start : start + _BACKFILL_CHUNK]
            ],
        )
