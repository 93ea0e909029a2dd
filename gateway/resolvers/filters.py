"""GraphQL filter inputs to the plain, hashable queries of ``gateway.db.queries``."""

from __future__ import annotations

from typing import Any

from gateway.db.queries import FlowQuery, IntegrationQuery, RunQuery, StepQuery


def _values(items: list[Any] | None) -> tuple[Any, ...]:
    return tuple(sorted({item.value for item in items or ()}))


def _search(search: str | None) -> str | None:
    return search or None


def flow_query(f: Any) -> FlowQuery:
    if f is None:
        return FlowQuery()
    return FlowQuery(status=f.status.value if f.status else None, name_contains=f.name_contains)


def integration_query(search: str | None, f: Any) -> IntegrationQuery:
    if f is None:
        return IntegrationQuery(search=_search(search))
    return IntegrationQuery(
        search=_search(search),
        statuses=_values(f.status),
        last_run_statuses=_values(f.last_run_status),
        created_after=f.created_after,
        created_before=f.created_before,
        last_run_after=f.last_run_after,
        last_run_before=f.last_run_before,
    )


def run_query(search: str | None, f: Any) -> RunQuery:
    if f is None:
        return RunQuery(search=_search(search))
    return RunQuery(
        search=_search(search),
        statuses=_values(f.status),
        started_after=f.started_after,
        started_before=f.started_before,
        network_codes=tuple(sorted(set(f.network_code or ()))),
        network_classes=_values(f.network_code_class),
        trigger_types=_values(f.trigger_type),
    )


def step_query(f: Any) -> StepQuery:
    return StepQuery() if f is None else StepQuery(statuses=_values(f.status))
