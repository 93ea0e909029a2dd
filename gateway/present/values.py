"""Derived field values: global IDs, links, HTTP code texts, task counts."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any

from gateway.ids import encode_global_id
from gateway.links import Links


def global_id(type_name: str, engine_id: str) -> str:
    return encode_global_id(type_name, engine_id)


def network_code_text(code: int | None) -> str | None:
    """``404 Not Found``; the bare number for a code HTTP does not name."""
    if code is None:
        return None
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def integration_url(links: Links, account_id: str, row: Any) -> str:
    return links.integration(account_id, row.flow_id, row.integration_id)


def run_url(links: Links, account_id: str, row: Any) -> str:
    return links.run(account_id, row.flow_id, row.integration_id, row.run_id)


def run_logs_url(links: Links, account_id: str, row: Any) -> str | None:
    return links.logs(account_id, row.flow_id, row.integration_id, row.run_id)


def paused_reason(value: str | None) -> str | None:
    return value or None


def tasks_in_period(period_end: datetime | None, period_tasks: int, now: datetime) -> int:
    """Tasks counted in a limit's current period; 0 without a limit or once it has ended."""
    if period_end is None or period_end <= now:
        return 0
    return period_tasks


def tasks_remaining(limit: int | None, in_period: int) -> int | None:
    return None if limit is None else max(0, limit - in_period)


def app_docs_url(app: Any) -> str | None:
    return app.docs_url if app else None
