"""Hostile inputs on the read path: forged cursors, NUL bytes, odd IDs. Never INTERNAL."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests import events as e
from tests.conftest import Api


def forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


@pytest.fixture
async def seeded(ingester: Api) -> None:
    result = await ingester.data(
        e.INGEST,
        {
            "events": [
                e.flow("flow-1", "Sync"),
                e.integration("int-1"),
                e.run_started("run-1", "int-1", 10),
                e.step_finished("s-1", "run-1", 1, 11, 12),
                e.run_finished("run-1", "OK", 13),
            ]
        },
    )
    assert result["ingestEvents"]["rejected"] == []


RUNS = """query Q($after: String, $before: String, $order: RunOrder) {
  runs(after: $after, before: $before, orderBy: $order) { nodes { runId } } }"""
INTEGRATIONS = """query Q($after: String, $order: IntegrationOrder) { flow(flowId: "flow-1") {
  integrations(after: $after, orderBy: $order) { nodes { integrationId } } } }"""
STEPS = """query Q($after: String) { run(runId: "run-1") { steps(after: $after) {
  nodes { stepId } } } }"""
FLOWS = """query Q($after: String) { flows(after: $after) { nodes { flowId } } }"""


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-01",
        5,
        -1,
        True,
        {"t": 10**20},
        {"t": -(10**20)},
        {"t": True},
        None,
        "x",
    ],
)
async def test_forged_time_cursor_values(seeded: None, viewer: Api, value: Any) -> None:
    cursor = forge([1, "runs:START_TIME:DESC", value, "run-1"])
    for arg in ("after", "before"):
        codes = await viewer.error_codes(RUNS, {arg: cursor})
        assert codes == ["BAD_USER_INPUT"]
    cursor = forge([1, "integrations:CREATED_AT:DESC", value, "int-1"])
    assert await viewer.error_codes(INTEGRATIONS, {"after": cursor}) == ["BAD_USER_INPUT"]
    cursor = forge([1, "flows:CREATED_AT:DESC", value, "flow-1"])
    assert await viewer.error_codes(FLOWS, {"after": cursor}) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("value", [{"t": 0}, "5", 2**63, -(2**63) - 1, True, 1.5])
async def test_forged_int_cursor_values(seeded: None, viewer: Api, value: Any) -> None:
    cursor = forge([1, "runs:DURATION:DESC", value, "run-1"])
    order = {"field": "DURATION", "direction": "DESC"}
    assert await viewer.error_codes(RUNS, {"after": cursor, "order": order}) == ["BAD_USER_INPUT"]
    cursor = forge([1, "steps:POSITION:ASC", value, "s-1"])
    assert await viewer.error_codes(STEPS, {"after": cursor}) == ["BAD_USER_INPUT"]


async def test_null_only_where_the_order_has_nulls(seeded: None, viewer: Api) -> None:
    order = {"field": "DURATION", "direction": "ASC"}
    ok = forge([1, "runs:DURATION:ASC", None, "run-1"])
    assert await viewer.data(RUNS, {"after": ok, "order": order}) == {"runs": {"nodes": []}}
    cursor = forge([1, "steps:POSITION:ASC", None, "s-1"])
    assert await viewer.error_codes(STEPS, {"after": cursor}) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("key", ["\u0000", "run\u0000", "", "x" * 129, "héllo", "a b"])
async def test_forged_cursor_ids(seeded: None, viewer: Api, key: str) -> None:
    cursor = forge([1, "runs:START_TIME:DESC", {"t": 0}, key])
    assert await viewer.error_codes(RUNS, {"after": cursor}) == ["BAD_USER_INPUT"]


async def test_a_cursor_of_another_list_is_refused(seeded: None, viewer: Api) -> None:
    flows = await viewer.data("{ flows { pageInfo { endCursor } } }")
    cursor = flows["flows"]["pageInfo"]["endCursor"]
    assert await viewer.error_codes(INTEGRATIONS, {"after": cursor}) == ["BAD_USER_INPUT"]
    integrations = await viewer.data(INTEGRATIONS, {})
    assert integrations["flow"]["integrations"]["nodes"] == [{"integrationId": "int-1"}]


async def test_empty_cursor_is_no_cursor(seeded: None, viewer: Api) -> None:
    data = await viewer.data(RUNS, {"after": "", "before": ""})
    assert data == {"runs": {"nodes": [{"runId": "run-1"}]}}


@pytest.mark.parametrize(
    "text", ["\u0000", "a\u0000b", "x" * 129, "x" * 256, "\U0001f600" * 256, "%", "'"]
)
async def test_odd_search_and_lookup_text(seeded: None, viewer: Api, text: str) -> None:
    data = await viewer.data(
        """query Q($s: String!) {
        flow(flowId: $s) { id } integration(integrationId: $s) { id } run(runId: $s) { id }
        step(stepId: $s) { id }
        runs(search: $s) { totalCount nodes { runId } }
        flows(filter: {nameContains: $s}) { totalCount }
        f: flow(flowId: "flow-1") { integrations(search: $s) { totalCount nodes { id } }
          runs(search: $s) { totalCount } } }""",
        {"s": text},
    )
    assert data == {
        "flow": None,
        "integration": None,
        "run": None,
        "step": None,
        "runs": {"totalCount": 0, "nodes": []},
        "flows": {"totalCount": 0},
        "f": {"integrations": {"totalCount": 0, "nodes": []}, "runs": {"totalCount": 0}},
    }


@pytest.mark.parametrize(
    "raw", ["Run:\u0000", "Flow:a\u0000", "Step:" + "x" * 300, "Integration:é"]
)
async def test_node_with_odd_engine_id_is_null(seeded: None, viewer: Api, raw: str) -> None:
    gid = base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()
    data = await viewer.data(
        "query Q($id: ID!) { node(id: $id) { id } nodes(ids: [$id]) { id } }", {"id": gid}
    )
    assert data == {"node": None, "nodes": [None]}
