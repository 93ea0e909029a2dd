"""Per-request DataLoaders over the batch fetchers of ``gateway.db.reads``.

Built for one request and one account: the account is bound here, once, so no loader can
return another tenant's rows, and nothing is cached beyond the request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader

from gateway.db import reads
from gateway.db.engine import Database
from gateway.db.pages import Order, PageRows, Window
from gateway.db.queries import IntegrationQuery, RunQuery, StepQuery


class Loaders:
    """Each loader is made on first use: a subscription renews its loaders per event, and a
    request uses a few of them, so building all of them up front cost more than using them."""

    def __init__(self, db: Database, account_id: str, *, cache: bool = True) -> None:
        self.db = db
        self.account_id = account_id
        # Without a cache a loader only batches the loads of one moment: for loaders that
        # outlive a request (the objects of live changes), which must not serve old rows.
        self.cache = cache

    @cached_property
    def app(self) -> DataLoader:
        return self._by_id(reads.apps_by_id)

    @cached_property
    def flow(self) -> DataLoader:
        return self._by_id(reads.flows_by_id)

    @cached_property
    def integration(self) -> DataLoader:
        return self._by_id(reads.integrations_by_id)

    @cached_property
    def run(self) -> DataLoader:
        return self._by_id(reads.runs_by_id)

    @cached_property
    def step(self) -> DataLoader:
        return self._by_id(reads.steps_by_id)

    @cached_property
    def payload(self) -> DataLoader:
        return self._by_id(reads.payloads_by_step)

    @cached_property
    def failed_step(self) -> DataLoader:
        return self._by_id(reads.failed_step_by_run)

    @cached_property
    def status_counts(self) -> DataLoader:
        return self._by_id(reads.integration_status_counts)

    @cached_property
    def end_user(self) -> DataLoader:
        return self._by_id(reads.end_users_by_id)

    @cached_property
    def end_user_statuses(self) -> DataLoader:
        return self._by_id(reads.end_user_statuses)

    @cached_property
    def integration_page(self) -> DataLoader:
        return self._grouped(reads.integration_pages)

    @cached_property
    def run_page(self) -> DataLoader:
        return self._grouped(reads.run_pages)

    @cached_property
    def step_page(self) -> DataLoader:
        return self._grouped(reads.step_pages)

    @cached_property
    def count(self) -> DataLoader:
        return self._grouped(reads.counts)

    @cached_property
    def hours(self) -> DataLoader:
        return self._grouped(reads.flow_hours)

    @cached_property
    def runs_between(self) -> DataLoader:
        return self._grouped(reads.runs_between)

    @cached_property
    def history_page(self) -> DataLoader:
        return self._grouped(reads.history_pages)

    def _by_id(
        self, fetch: Callable[[Any, str, Sequence[str]], Awaitable[dict[str, Any]]]
    ) -> DataLoader:
        async def batch(keys: list[str]) -> list[Any]:
            async with self.db.read() as conn:
                found = await fetch(conn, self.account_id, keys)
            return [found.get(key) for key in keys]

        return DataLoader(batch, cache=self.cache)

    def _grouped(self, fetch: Callable[..., Awaitable[dict[Any, Any]]]) -> DataLoader:
        """Keys are (parent, *spec); ``fetch(conn, account, parents, *spec)`` answers one spec
        for many parents in one statement, and one batch usually holds one spec."""

        async def batch(keys: list[tuple[Any, ...]]) -> list[Any]:
            by_spec: dict[tuple[Any, ...], list[str]] = defaultdict(list)
            for key in keys:
                by_spec[tuple(key[1:])].append(key[0])
            results: dict[tuple[Any, ...], Any] = {}
            async with self.db.read() as conn:
                for spec, parents in by_spec.items():
                    found = await fetch(conn, self.account_id, sorted(set(parents)), *spec)
                    for parent in parents:
                        results[(parent, *spec)] = found[parent]
            return [results[key] for key in keys]

        return DataLoader(batch, cache=self.cache)

    # typed front doors, so resolvers read plainly --------------------------------------

    def integrations_of(
        self, parent: str, parent_id: str, query: IntegrationQuery, order: Order, window: Window
    ) -> Awaitable[PageRows]:
        """Integrations of a flow (parent "flow") or of an end-user ("user")."""
        return self.integration_page.load((parent_id, parent, query, order, window))

    def history_of(self, integration_id: str, window: Window) -> Awaitable[PageRows]:
        return self.history_page.load((integration_id, window))

    def runs_of(
        self, kind: str, parent_id: str, query: RunQuery, order: Order, window: Window
    ) -> Awaitable[PageRows]:
        return self.run_page.load((parent_id, kind, query, order, window))

    def steps_of_run(self, run_id: str, query: StepQuery, window: Window) -> Awaitable[PageRows]:
        return self.step_page.load((run_id, query, window))

    def hours_of_flow(self, flow_id: str, since: datetime) -> Awaitable[list[Any]]:
        """The flow's hourly buckets from ``since`` on, oldest first."""
        return self.hours.load((flow_id, since))

    def runs_of_flow_between(
        self, flow_id: str, since: datetime, until: datetime
    ) -> Awaitable[tuple[int, int]]:
        """The flow's runs, and failed runs, that started in [since, until]."""
        return self.runs_between.load((flow_id, since, until))

    def count_of(self, what: str, parent_id: str | None, query: Any) -> Awaitable[int]:
        return self.count.load((parent_id, what, query))
