"""A client's bad input is BAD_USER_INPUT wherever it is written: in the document, in a
variable or in a variable's default; never INTERNAL, never HTTP 500."""

from __future__ import annotations

import pytest

from tests.conftest import Api

BAD_DATETIMES = ['"2026-11-01"', '"x"', "5", "true", '"0001-01-01T00:00:00+14:00"', "{a: 1}"]
RUNS_AFTER = "{ runs(filter: {startedAfter: %s}) { totalCount } }"
INGEST_LITERAL = """mutation { ingestEvents(events: [{flowUpserted: {eventId: "e1",
  occurredAt: %s, flowId: "f", name: "n", status: PUBLISHED}}]) { accepted } }"""


async def assert_bad_input(api: Api, query: str, variables: dict | None = None) -> str:
    response = await api.post(query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}, error
    assert "Internal" not in error["message"]
    message: str = error["message"]
    return message


@pytest.mark.parametrize("literal", BAD_DATETIMES)
async def test_bad_datetime_literal_in_a_query(viewer: Api, literal: str) -> None:
    message = await assert_bad_input(viewer, RUNS_AFTER % literal)
    assert any(word in message for word in ("DateTime", "RFC 3339", "range", "offset"))


@pytest.mark.parametrize("literal", BAD_DATETIMES)
async def test_bad_datetime_literal_in_an_ingest_batch(ingester: Api, literal: str) -> None:
    await assert_bad_input(ingester, INGEST_LITERAL % literal)


async def test_a_literal_error_points_at_the_value(viewer: Api) -> None:
    body = (await viewer.post(RUNS_AFTER % '"x"')).json()
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 31}]
    assert body["errors"][0]["message"] == (
        "'x' is not an RFC 3339 date-time (for example 2026-11-01T00:00:00Z)."
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-01", "has no offset"),
        ("x", "is not an RFC 3339 date-time"),
        (5, "must be an RFC 3339 string"),
        ("0001-01-01T00:00:00+14:00", "outside the representable range"),
    ],
)
async def test_bad_datetime_variable(viewer: Api, value: object, reason: str) -> None:
    query = "query($d: DateTime!) { runs(filter: {startedAfter: $d}) { totalCount } }"
    message = await assert_bad_input(viewer, query, {"d": value})
    assert message.startswith("Variable '$d' has invalid value")
    assert reason in message


async def test_bad_variable_default(viewer: Api) -> None:
    query = 'query($d: DateTime = "x") { runs(filter: {startedAfter: $d}) { totalCount } }'
    await assert_bad_input(viewer, query)


async def test_good_datetimes_still_work(viewer: Api) -> None:
    data = await viewer.data(RUNS_AFTER % '"2026-11-01T00:00:00+14:00"')
    assert data == {"runs": {"totalCount": 0}}
    query = "query($d: DateTime!) { runs(filter: {startedAfter: $d}) { totalCount } }"
    assert await viewer.data(query, {"d": "9999-12-31T23:59:59.999Z"}) == {
        "runs": {"totalCount": 0}
    }


@pytest.mark.parametrize(
    "query",
    [
        "{ flows(first: 99999999999) { totalCount } }",  # Int overflow
        '{ flows(filter: {status: NOPE}) { totalCount } }',  # unknown enum value
        '{ node(id: 5) { id } }',  # an Int where an ID is expected is fine... as an ID
        "{ runs(filter: {networkCode: [1.5]}) { totalCount } }",
        "{ runs(filter: {networkCode: 1e400}) { totalCount } }",
        '{ flows(filter: {nameContains: "\\u00"}) { totalCount } }',  # bad escape
        "query($x: [Int!]!) { runs(filter: {networkCode: $x}) { totalCount } }",  # missing var
    ],
)
async def test_other_bad_literals_are_bad_user_input(viewer: Api, query: str) -> None:
    response = await viewer.post(query)
    assert response.status_code == 200, response.text
    codes = {e["extensions"]["code"] for e in response.json().get("errors", [])}
    assert "INTERNAL" not in codes
    assert codes <= {"BAD_USER_INPUT"}


async def test_list_arguments_are_bounded(viewer: Api) -> None:
    codes = ", ".join(["500"] * 101)
    query = f"{{ runs(filter: {{networkCode: [{codes}]}}) {{ totalCount }} }}"
    body = (await viewer.post(query)).json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == (
        '"filter.networkCode" on field "runs" accepts at most 100 values, got 101.'
    )
    query = "query($c: [Int!]) { runs(filter: {networkCode: $c}) { totalCount } }"
    assert await viewer.error_codes(query, {"c": list(range(200, 301))}) == ["BAD_USER_INPUT"]
    assert await viewer.data(query, {"c": list(range(200, 300))}) == {"runs": {"totalCount": 0}}
