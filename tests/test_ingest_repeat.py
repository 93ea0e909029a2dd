from __future__ import annotations

from tests import events as e
from tests.conftest import Api

PAYLOAD = {"request": {"method": "GET", "url": "https://api.example.com/items?page=2"}}


async def test_a_repeated_step_finished_without_payload_keeps_the_stored_one(
    ingester: Api, viewer: Api
) -> None:
    first = [
        e.flow(),
        e.integration("int-1"),
        e.run_started("run-1", "int-1", 10),
        e.step_finished("s1", "run-1", 1, 11, 12, payload=PAYLOAD),
    ]
    await ingester.data(e.INGEST, {"events": first})
    await ingester.data(e.INGEST, {"events": [e.step_finished("s1", "run-1", 1, 11, 13)]})
    data = await viewer.data('{ step(stepId: "s1") { endTime payload { request { url } } } }')
    assert data["step"]["endTime"] == e.at(13)
    assert data["step"]["payload"] == {"request": {"url": PAYLOAD["request"]["url"]}}
