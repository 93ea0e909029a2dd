"""Names whose case folding is longer than the name itself are stored and found whole."""

from __future__ import annotations

from tests import events as e
from tests.conftest import Api

LONG = "Straße " + "ß" * 240  # 247 characters, 488 when folded


async def test_a_name_that_grows_when_folded_is_ingested_and_found(
    ingester: Api, viewer: Api
) -> None:
    batch = [
        e.flow("flow-1", name=LONG),
        e.ev("appUpserted", 0, appId="app-1", name=LONG),
    ]
    result = await ingester.data(e.INGEST, {"events": batch})
    assert result["ingestEvents"] == {"accepted": 2, "duplicates": 0, "rejected": []}
    query = "query($s: String) { flows(filter: {nameContains: $s}) { nodes { flowId name } } }"
    data = await viewer.data(query, {"s": "STRASSE " + "SS" * 100})
    assert data["flows"]["nodes"] == [{"flowId": "flow-1", "name": LONG}]
