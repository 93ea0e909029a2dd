"""runs.network_code: the code of the run's last finished step, null when it had none

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:00:00.000000

Data only. Runs used to take the code of the highest step that had one, so a run whose last
step got no response (a timeout) showed an earlier step's code. Every run is recomputed from its
steps: the highest (position, step_id) that ran (OK or FAILED) decides, as on ingest
(gateway.ingest.apply.network_code_of).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_runs = sa.table(
    "runs",
    sa.column("account_id"),
    sa.column("run_id"),
    sa.column("network_code"),
    sa.column("network_code_position"),
)
_steps = sa.table(
    "steps",
    sa.column("account_id"),
    sa.column("run_id"),
    sa.column("step_id"),
    sa.column("position"),
    sa.column("status"),
    sa.column("network_code"),
)


def upgrade() -> None:
    bind = op.get_bind()
    step_id: sa.ColumnElement[str] = _steps.c.step_id
    if bind.dialect.name == "postgresql":
        # Ties on a position go to the highest step ID in code-point order, as in Python;
        # the database's default collation may order letters and punctuation otherwise.
        step_id = sa.collate(step_id, "C")
    ran = sa.and_(
        _steps.c.account_id == _runs.c.account_id,
        _steps.c.run_id == _runs.c.run_id,
        _steps.c.status.in_(("OK", "FAILED")),
    )
    # One statement per backend: correlated subqueries on the steps' (account_id, run_id,
    # position, step_id) index; runs without a step that ran get nulls.
    last_code = (
        sa.select(_steps.c.network_code)
        .where(ran)
        .order_by(_steps.c.position.desc(), step_id.desc())
        .limit(1)
        .scalar_subquery()
    )
    last_position = sa.select(sa.func.max(_steps.c.position)).where(ran).scalar_subquery()
    bind.execute(_runs.update().values(network_code=last_code, network_code_position=last_position))


def downgrade() -> None:
    # The old values were wrong; nothing to restore. The schema is unchanged.
    pass
