"""Folded names as wide as their folding can grow: flows and apps

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:15:00.000000

Unicode case folding can make a name longer (``ß`` folds to ``ss``; some characters fold to
three), so a 256-character name may fold to up to 768. PostgreSQL refused such a folded name
(``varchar(256)``) and the whole ingest batch failed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("apps", "flows")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "name_folded",
                existing_type=sa.String(length=256),
                type_=sa.String(length=768),
                existing_nullable=False,
            )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "name_folded",
                existing_type=sa.String(length=768),
                type_=sa.String(length=256),
                existing_nullable=False,
            )
