"""What a list can be narrowed by: plain, hashable values (so they can key a loader) and the
SQL conditions they stand for. Every condition list starts with the account: tenancy is not
optional here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, or_, select

from gateway.db import tables as t


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _storable(text: str) -> bool:
    """No stored text holds a NUL (PostgreSQL refuses it, SQLite's LIKE stops at it): a search
    for one matches nothing, and must not reach the database."""
    return "\x00" not in text


def _range(column: Any, after: datetime | None, before: datetime | None) -> list[Any]:
    out = []
    if after is not None:
        out.append(column >= after)
    if before is not None:
        out.append(column < before)
    return out


def account_scope(table: Table, account_id: str) -> ColumnElement[bool]:
    return table.c.account_id == account_id


@dataclass(frozen=True, slots=True)
class FlowQuery:
    status: str | None = None
    name_contains: str | None = None

    def conditions(self, account_id: str) -> list[Any]:
        f = t.flows
        out: list[Any] = [account_scope(f, account_id)]
        if self.status is not None:
            out.append(f.c.status == self.status)
        if self.name_contains and not _storable(self.name_contains):
            out.append(false())
        elif self.name_contains:
            pattern = f"%{_like_escape(self.name_contains.casefold())}%"
            out.append(f.c.name_folded.like(pattern, escape="\\"))
        return out


@dataclass(frozen=True, slots=True)
class IntegrationQuery:
    search: str | None = None
    statuses: tuple[str, ...] = ()
    last_run_statuses: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    last_run_after: datetime | None = None
    last_run_before: datetime | None = None

    def conditions(self, account_id: str) -> list[Any]:
        i = t.integrations
        out: list[Any] = [account_scope(i, account_id)]
        if self.search and not _storable(self.search):
            out.append(false())
        elif self.search:
            out.append(
                or_(
                    i.c.integration_id == self.search,
                    i.c.user_id == self.search,
                    # userAuth (usually an e-mail address) ignores case; IDs do not.
                    i.c.user_auth_folded == self.search.casefold(),
                )
            )
        if self.statuses:
            out.append(i.c.status.in_(self.statuses))
        if self.last_run_statuses:
            out.append(i.c.last_run_status.in_(self.last_run_statuses))
        out += _range(i.c.created_at, self.created_after, self.created_before)
        out += _range(i.c.last_run_start, self.last_run_after, self.last_run_before)
        return out


@dataclass(frozen=True, slots=True)
class RunQuery:
    search: str | None = None
    statuses: tuple[str, ...] = ()
    started_after: datetime | None = None
    started_before: datetime | None = None
    network_codes: tuple[int, ...] = ()
    network_classes: tuple[int, ...] = ()  # 2, 3, 4, 5 for 2xx…5xx
    trigger_types: tuple[str, ...] = ()

    def conditions(self, account_id: str) -> list[Any]:
        r = t.runs
        out: list[Any] = [account_scope(r, account_id)]
        if self.search and not _storable(self.search):
            out.append(false())
        elif self.search:
            a = t.apps
            apps_named = select(a.c.app_id).where(
                a.c.account_id == account_id, a.c.name_folded == self.search.casefold()
            )
            out.append(or_(r.c.run_id == self.search, r.c.trigger_app_id.in_(apps_named)))
        if self.statuses:
            out.append(r.c.status.in_(self.statuses))
        out += _range(r.c.start_time, self.started_after, self.started_before)
        codes: list[Any] = []
        if self.network_codes:
            codes.append(r.c.network_code.in_(self.network_codes))
        codes += [
            and_(r.c.network_code >= c * 100, r.c.network_code < (c + 1) * 100)
            for c in self.network_classes
        ]
        if codes:
            out.append(or_(*codes))
        if self.trigger_types:
            out.append(r.c.trigger_type.in_(self.trigger_types))
        return out


@dataclass(frozen=True, slots=True)
class StepQuery:
    statuses: tuple[str, ...] = ()

    def conditions(self, account_id: str) -> list[Any]:
        s = t.steps
        out: list[Any] = [account_scope(s, account_id)]
        if self.statuses:
            out.append(s.c.status.in_(self.statuses))
        return out


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    def conditions(self, account_id: str) -> list[Any]:
        return [account_scope(t.integration_status_changes, account_id)]


@dataclass(frozen=True, slots=True)
class EndUserQuery:
    """End-users of one flow: those with an integration in it."""

    flow_id: str

    def conditions(self, account_id: str) -> list[Any]:
        e, i = t.end_users, t.integrations
        users_of_flow = select(i.c.user_id).where(
            i.c.account_id == account_id, i.c.flow_id == self.flow_id
        )
        return [account_scope(e, account_id), e.c.user_id.in_(users_of_flow)]
