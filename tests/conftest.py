"""Fixtures: a fresh database per backend per session, a fresh account per test, and clients
per role that talk to the real ASGI app over HTTP semantics (httpx)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db.migrate import upgrade
from gateway.services import Services

# Test data is dated around a fixed day (tests/events.py), older than the default retention
# as time goes by: a server started by a test must not purge other tests' data. The retention
# tests turn the sweep on themselves.
os.environ["GATEWAY_RETENTION_SWEEP_SECONDS"] = "0"

PG_ADMIN_URL = os.environ.get("GATEWAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_database() -> Iterator[str]:
    import asyncpg

    name = f"gw_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_URL}: {error}")
        pytest.skip(
            f"PostgreSQL not reachable at {PG_ADMIN_URL} ({error}); set CI=true to require it"
        )
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "gateway.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    gen = _postgres_database()
    url = next(gen)
    upgrade(url)
    yield url
    gen.close()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, dashboard_base_url="https://dash.test", key_cache_seconds=0.0
    )


@pytest.fixture(scope="session")
async def app_and_services(settings: Settings) -> AsyncIterator[tuple[Any, Services]]:
    app = create_app(settings)
    services: Services = app.state.services
    yield app, services
    await services.close()


@pytest.fixture(scope="session")
def services(app_and_services: tuple[Any, Services]) -> Services:
    return app_and_services[1]


@dataclass
class Api:
    """A client of one role for one account, with helpers that fail loudly."""

    http: httpx.AsyncClient
    account_id: str

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", json=body, headers=headers)

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(query, variables)
        result: dict[str, Any] = response.json()
        return result

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        result = await self.raw(query, variables)
        assert not result.get("errors"), f"unexpected errors: {result['errors']}"
        data: dict[str, Any] = result["data"]
        return data

    async def error_codes(self, query: str, variables: dict[str, Any] | None = None) -> list[str]:
        result = await self.raw(query, variables)
        assert result.get("errors"), f"expected errors, got {result}"
        return [e["extensions"]["code"] for e in result["errors"]]


@pytest.fixture
def account_id() -> str:
    return f"acct-{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def api_client(
    app_and_services: tuple[Any, Services], account_id: str, role: str
) -> AsyncIterator[Api]:
    app, services = app_and_services
    key = await create_key(services.db, account_id, role)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        yield Api(http, account_id)


@pytest.fixture
async def admin(app_and_services: tuple[Any, Services], account_id: str) -> AsyncIterator[Api]:
    async with api_client(app_and_services, account_id, "admin") as api:
        yield api


@pytest.fixture
async def viewer(app_and_services: tuple[Any, Services], account_id: str) -> AsyncIterator[Api]:
    async with api_client(app_and_services, account_id, "viewer") as api:
        yield api


@pytest.fixture
async def ingester(app_and_services: tuple[Any, Services], account_id: str) -> AsyncIterator[Api]:
    async with api_client(app_and_services, account_id, "ingest") as api:
        yield api
