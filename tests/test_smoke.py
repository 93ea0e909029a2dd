from __future__ import annotations

from tests import events as e
from tests.conftest import Api


async def test_ingest_then_read_nested(ingester: Api, viewer: Api) -> None:
    batch = [
        e.flow(),
        e.integration("int-1"),
        e.run_started("run-1", "int-1", 10),
        e.step_finished("s1", "run-1", 1, 11, 12),
        e.step_finished("s2", "run-1", 2, 12, 13, status="FAILED", code=404),
        e.run_finished("run-1", "FAILED", 14),
    ]
    result = await ingester.data(e.INGEST, {"events": batch})
    assert result["ingestEvents"] == {"accepted": 6, "duplicates": 0, "rejected": []}
    data = await viewer.data("""{ flow(flowId: "flow-1") { name stats { integrationCount }
      integrations { totalCount nodes { integrationId lastRunStatus tasksConsumed
        runs { nodes { runId status networkCode networkCodeText duration tasksConsumed
          failedStep { stepId } steps { nodes { stepId status } } } } } } } }""")
    flow = data["flow"]
    assert flow["stats"]["integrationCount"] == 1
    integ = flow["integrations"]["nodes"][0]
    assert integ["lastRunStatus"] == "FAILED"
    assert integ["tasksConsumed"] == 1
    run = integ["runs"]["nodes"][0]
    assert run["networkCode"] == 404
    assert run["networkCodeText"] == "404 Not Found"
    assert run["duration"] == 4000
    assert run["failedStep"] == {"stepId": "s2"}
    assert [s["stepId"] for s in run["steps"]["nodes"]] == ["s1", "s2"]
