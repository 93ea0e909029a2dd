"""Data migrations: what existed before a migration is carried over."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.db.migrate import upgrade
from gateway.db.tables import UtcDateTime
from tests.conftest import _postgres_database


def test_0002_backfills_end_users_and_when_integrations_stopped(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0001")
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO integrations (account_id, integration_id, flow_id, user_id, created_at,"
            " status, status_changed_at, last_run_start, last_run_status, tasks_consumed,"
            " consecutive_failures) VALUES (?, ?, 'f', ?, ?, ?, ?, ?, 'OK', ?, 0)",
            [
                (
                    "a",
                    "i1",
                    "ann smith",
                    "2026-01-01 00:00:00.000000",
                    "ENABLED",
                    "2026-01-01 00:00:00.000000",
                    "2026-01-05 00:00:00.000000",
                    3,
                ),
                (
                    "a",
                    "i2",
                    "ann smith",
                    "2026-01-02 00:00:00.000000",
                    "PAUSED",
                    "2026-01-03 00:00:00.000000",
                    None,
                    4,
                ),
                (
                    "b",
                    "i1",
                    "ann smith",
                    "2026-01-01 00:00:00.000000",
                    "DISABLED",
                    "2026-01-04 00:00:00.000000",
                    None,
                    1,
                ),
            ],
        )
    upgrade(url)
    with sqlite3.connect(path) as db:
        users = db.execute(
            "SELECT account_id, user_id, length(user_key), tasks_consumed, last_active_at"
            " FROM end_users ORDER BY account_id"
        ).fetchall()
        stopped = db.execute(
            "SELECT account_id, integration_id, receiving_stopped_at FROM integrations"
            " ORDER BY account_id, integration_id"
        ).fetchall()
    assert users == [
        ("a", "ann smith", 40, 7, "2026-01-05 00:00:00.000000"),
        ("b", "ann smith", 40, 1, "2026-01-01 00:00:00.000000"),
    ]
    assert stopped == [
        ("a", "i1", None),
        ("a", "i2", "2026-01-03 00:00:00.000000"),
        ("b", "i1", "2026-01-04 00:00:00.000000"),
    ]


def test_0003_backfills_case_folded_user_auth(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0002")
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO integrations (account_id, integration_id, flow_id, user_id, user_auth,"
            " created_at, status, status_changed_at, last_run_status, tasks_consumed,"
            " consecutive_failures) VALUES (?, ?, 'f', 'u', ?, '2026-01-01 00:00:00.000000',"
            " 'ENABLED', '2026-01-01 00:00:00.000000', 'HASNT_RUN', 0, 0)",
            [
                ("a", "i1", "Ann@Example.COM"),
                ("a", "i2", "GROSSE.Straße@Example.de"),
                ("a", "i3", None),
                ("b", "i1", "ÉMILE@example.fr"),
            ],
        )
    upgrade(url)
    with sqlite3.connect(path) as db:
        folded = db.execute(
            "SELECT account_id, integration_id, user_auth, user_auth_folded FROM integrations"
            " ORDER BY account_id, integration_id"
        ).fetchall()
    assert folded == [
        ("a", "i1", "Ann@Example.COM", "ann@example.com"),
        ("a", "i2", "GROSSE.Straße@Example.de", "grosse.strasse@example.de"),
        ("a", "i3", None, None),
        ("b", "i1", "ÉMILE@example.fr", "émile@example.fr"),
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    databases = _postgres_database()
    yield next(databases)
    databases.close()


_RUN_ROWS = sa.table(
    "runs",
    *(sa.column(c) for c in ("account_id", "run_id", "integration_id", "flow_id")),
    *(sa.column(c) for c in ("trigger_app_id", "trigger_name", "trigger_type", "status")),
    sa.column("start_time", UtcDateTime()),
    sa.column("network_code"),
    sa.column("network_code_position"),
)
_STEP_ROWS = sa.table(
    "steps",
    *(sa.column(c) for c in ("account_id", "step_id", "run_id", "position", "app_id", "name")),
    *(sa.column(c) for c in ("status", "network_code")),
)


async def _execute(url: str, *statements: Any) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            results = [await conn.execute(s) for s in statements]
            return [r.all() if r.returns_rows else None for r in results]
    finally:
        await engine.dispose()


def test_0004_recomputes_run_network_codes_from_the_last_step(empty_database: str) -> None:
    # Given runs stored by the old rule (the highest step *with* a code decided), on 0003
    url = empty_database
    upgrade(url, "0003")
    runs = [  # run, old code, old position
        ("a", "timeout", 200, 1),
        ("a", "skipped-last", 200, 1),
        ("a", "only-running", 500, 1),
        ("a", "no-steps", 404, 3),
        ("a", "tie", 500, 2),
        ("a", "from-zero", None, None),
        ("b", "timeout", 201, 0),
    ]
    steps = [  # account, step, run, position, status, code
        ("a", "t1", "timeout", 1, "OK", 200),
        ("a", "t2", "timeout", 2, "FAILED", None),
        ("a", "k1", "skipped-last", 1, "FAILED", 500),
        ("a", "k2", "skipped-last", 2, "SKIPPED", None),
        ("a", "r1", "only-running", 1, "RUNNING", None),
        # A tie on the position goes to the highest step ID in code-point order ("s-a" >
        # "s-B"), whatever the database's collation.
        ("a", "s-a", "tie", 2, "OK", 404),
        ("a", "s-B", "tie", 2, "FAILED", 500),
        ("a", "s-0", "tie", 1, "OK", 200),
        ("a", "z0", "from-zero", 0, "OK", 201),
        ("a", "z1", "from-zero", 1, "RUNNING", None),
        ("b", "t1", "timeout", 0, "OK", 201),
        ("b", "t2", "timeout", 1, "FAILED", None),
    ]
    asyncio.run(
        _execute(
            url,
            _RUN_ROWS.insert().values(
                [
                    {
                        "account_id": account,
                        "run_id": run,
                        "integration_id": "i",
                        "flow_id": "f",
                        "trigger_app_id": "slack",
                        "trigger_name": "New message",
                        "trigger_type": "WEBHOOK",
                        "status": "FAILED",
                        "start_time": datetime(2026, 1, 1, tzinfo=UTC),
                        "network_code": code,
                        "network_code_position": position,
                    }
                    for account, run, code, position in runs
                ]
            ),
            _STEP_ROWS.insert().values(
                [
                    {
                        "account_id": account,
                        "step_id": step,
                        "run_id": run,
                        "position": position,
                        "app_id": "hubspot",
                        "name": step,
                        "status": status,
                        "network_code": code,
                    }
                    for account, step, run, position, status, code in steps
                ]
            ),
        )
    )
    # When the database is migrated
    upgrade(url)
    # Then every run has the code of its last step that ran, null when that step had none
    (stored,) = asyncio.run(
        _execute(
            url,
            sa.select(
                _RUN_ROWS.c.account_id,
                _RUN_ROWS.c.run_id,
                _RUN_ROWS.c.network_code,
                _RUN_ROWS.c.network_code_position,
            ).order_by(_RUN_ROWS.c.account_id, _RUN_ROWS.c.run_id),
        )
    )
    assert [tuple(row) for row in stored] == [
        ("a", "from-zero", 201, 0),
        ("a", "no-steps", None, None),
        ("a", "only-running", None, None),
        ("a", "skipped-last", 500, 1),
        ("a", "tie", 404, 2),
        ("a", "timeout", None, 2),
        ("b", "timeout", None, 1),
    ]
