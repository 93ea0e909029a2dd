"""Generated queries (hypothesis-graphql, from the schema) answered alike by the planned
executor and by strawberry, on seeded data, on both backends.

Fixed seed (derandomize) so every run sends the same queries; GATEWAY_PLANNER_EXAMPLES raises
the number of examples per backend (default 200; 2,000 and more for a thorough run).
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import queries

from gateway.config import Settings
from gateway.schema import schema
from tests.test_fuzz import SCALARS
from tests.test_planner import _diff, normalised, planned_apps, seed

T = TypeVar("T")
EXAMPLES = int(os.environ.get("GATEWAY_PLANNER_EXAMPLES", "200"))


class Pairs:
    """Both apps on an event loop of their own thread, so hypothesis can drive them."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        base = Settings(database_url=database_url, key_cache_seconds=0.0)
        self.apps = planned_apps(base)
        account_id = f"pfuzz-{uuid.uuid4().hex[:8]}"
        self.run(seed(self.apps[0], account_id))
        self.clients = [self.run(self._client(app, account_id)) for app in self.apps]
        self.planned = 0

    async def _client(self, app: Any, account_id: str) -> httpx.AsyncClient:
        from gateway.auth.keys import create_key

        key = await create_key(app.state.services.db, account_id, "viewer")
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {key}"},
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def compare(self, query: str) -> None:
        headers = {"X-Request-Id": f"req-{uuid.uuid4().hex[:12]}"}
        answers = []
        for client in self.clients:
            response = self.run(client.post("/graphql", json={"query": query}, headers=headers))
            answers.append((response.status_code, normalised(response.json())))
        assert answers[0] == answers[1], (query, _diff(answers[0], answers[1]))

    def close(self) -> None:
        for client in self.clients:
            self.run(client.aclose())
        for app in self.apps:
            self.run(app.state.services.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def pairs(database_url: str) -> Iterator[Pairs]:
    both = Pairs(database_url)
    try:
        yield both
    finally:
        both.close()


def test_generated_queries_answer_alike(pairs: Pairs) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(query=queries(schema._schema, custom_scalars=SCALARS))
    def run(query: Any) -> None:
        pairs.compare(query if isinstance(query, str) else graphql.print_ast(query))

    run()
