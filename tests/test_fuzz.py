"""Generated queries and mutations, valid and invalid (hypothesis-graphql, from the schema),
against the ASGI app: no answer is HTTP 500 or INTERNAL, and every error has a known code.

Fixed seed (derandomize) so CI runs the same few hundred examples every time; set
GATEWAY_FUZZ_EXAMPLES to run more locally.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine, Iterator
from datetime import UTC
from typing import Any, TypeVar

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.errors import CODES
from gateway.schema import schema
from tests import events as e

T = TypeVar("T")
EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "60"))

DATETIMES = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-11-01", "x", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"]),
    st.text(max_size=20),
).map(nodes.String)
JSON_VALUES = st.one_of(st.integers().map(nodes.Int), st.text(max_size=20).map(nodes.String))
SCALARS = {"DateTime": DATETIMES, "JSON": JSON_VALUES}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Target:
    """The gateway on an event loop of its own thread, so hypothesis can drive it from a
    plain test function."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.app = create_app(Settings(database_url=database_url, key_cache_seconds=0.0))
        self.account_id = f"fuzz-{uuid.uuid4().hex[:8]}"
        key = self.run(create_key(self.app.state.services.db, self.account_id, "admin"))
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {key}"},
        )
        batch = [
            e.flow(),
            e.integration("int-1"),
            e.run_started("run-1", "int-1", 10),
            e.step_finished("s1", "run-1", 1, 11, 12, status="FAILED", code=500),
            e.run_finished("run-1", "FAILED", 13),
        ]
        self.check(e.INGEST, {"events": batch})

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def check(self, query: str, variables: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = self.run(self.http.post("/graphql", json=body))
        assert response.status_code != 500, (query, response.text)
        answer = response.json()
        for error in answer.get("errors", ()):
            code = (error.get("extensions") or {}).get("code")
            assert code in CODES, (query, error)
            assert code != "INTERNAL", (query, error)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.app.state.services.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def target(database_url: str) -> Iterator[Target]:
    fuzzed = Target(database_url)
    try:
        yield fuzzed
    finally:
        fuzzed.close()


GRAPHQL_SCHEMA = schema._schema


def _printed(document: Any) -> str:
    return document if isinstance(document, str) else graphql.print_ast(document)


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzed_queries(target: Target, mode: Mode) -> None:
    @FUZZ_SETTINGS
    @given(query=queries(GRAPHQL_SCHEMA, custom_scalars=SCALARS, mode=mode))
    def run(query: Any) -> None:
        target.check(_printed(query))

    run()


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzed_mutations(target: Target, mode: Mode) -> None:
    @FUZZ_SETTINGS
    @given(query=mutations(GRAPHQL_SCHEMA, custom_scalars=SCALARS, mode=mode))
    def run(query: Any) -> None:
        target.check(_printed(query))

    run()


@FUZZ_SETTINGS
@given(
    value=st.one_of(
        st.text(max_size=200),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.text(max_size=5), max_size=5),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        st.none(),
    ),
    field=st.sampled_from(
        [
            ("query($v: DateTime) { runs(filter: {startedAfter: $v}) { totalCount } }"),
            ("query($v: String) { flows(filter: {nameContains: $v}) { totalCount } }"),
            ("query($v: String) { runs(search: $v) { totalCount } }"),
            ("query($v: String) { runs(after: $v) { totalCount } }"),
            ("query($v: ID!) { node(id: $v) { id } }"),
            ("query($v: [Int!]) { runs(filter: {networkCode: $v}) { totalCount } }"),
            ("mutation($v: [IngestEvent!]!) { ingestEvents(events: $v) { accepted } }"),
        ]
    ),
)
def test_fuzzed_variables(target: Target, value: Any, field: str) -> None:
    target.check(field, {"v": value})
