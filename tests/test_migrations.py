"""Data migrations: what existed before a migration is carried over."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.db.migrate import upgrade


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
