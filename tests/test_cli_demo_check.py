"""What `gateway serve --demo` must leave behind, checked through the app on its database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from gateway.app import create_app
from gateway.config import Settings

QUERY = """{
  viewer { accountId }
  flows(first: 20) { totalCount nodes { name status
    stats { integrationCount statusCounts { status count } }
    runs(first: 100, filter: {networkCodeClass: [C4XX, C5XX]}) { totalCount } } }
  runs(filter: {status: [FAILED]}) { totalCount }
}"""


def check_demo_data(folder: Path, key: str) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{folder / 'cli.db'}")

    async def run() -> dict:  # type: ignore[type-arg]
        app = create_app(settings)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://t",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                response = await client.post("/graphql", json={"query": QUERY})
                return response.json()  # type: ignore[no-any-return]
        finally:
            await app.state.services.close()

    result = asyncio.run(run())
    assert "errors" not in result, result
    data = result["data"]
    assert data["viewer"]["accountId"] == "demo"
    flows = data["flows"]["nodes"]
    assert len(flows) >= 4
    assert any(f["status"] == "DRAFT" and f["stats"]["integrationCount"] == 0 for f in flows)
    assert sum(f["stats"]["integrationCount"] for f in flows) >= 30
    statuses = {s["status"] for f in flows for s in f["stats"]["statusCounts"]}
    assert statuses == {
        "INITIALIZING",
        "ENABLED",
        "DISABLED",
        "PAUSED",
        "FAILED_TO_INITIALIZE",
        "DELETED",
    }
    assert data["runs"]["totalCount"] > 0
    assert sum(f["runs"]["totalCount"] for f in flows) > 0
