"""Text arguments past their documented length: BAD_USER_INPUT naming the argument and the
limit, before anything runs; at the limit they work. Root lookups answer null instead."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLScalarType

import gateway
from gateway.limits import (
    ENGINE_ID_CHARS,
    ENGINE_ID_MAX,
    EVENT_ID_MAX,
    GLOBAL_ID_MAX,
    LIMIT,
    NAME_CONTAINS_MAX,
    SEARCH_MAX,
    USER_TEXT_MAX,
    WEBHOOK_ID_MAX,
    WEBHOOK_URL_MAX,
)
from gateway.schema import schema
from tests import events as e
from tests.conftest import Api


@pytest.fixture
async def seeded(ingester: Api) -> None:
    result = await ingester.data(
        e.INGEST,
        {
            "events": [
                e.flow("flow-1", "Sync"),
                e.flow("flow-long", "n" * NAME_CONTAINS_MAX),
                e.integration("int-1"),
                e.run_started("run-1", "int-1", 10),
                e.run_finished("run-1", "OK", 13),
            ]
        },
    )
    assert result["ingestEvents"]["rejected"] == []


async def refusal(api: Api, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The one error of a refused operation: no data, nothing executed."""
    response = await api.post(query, variables, accept="application/graphql-response+json")
    body = response.json()
    assert response.status_code == 400, body
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return dict(error)


SEARCHES = {
    "Query.runs": "query Q($s: String) { runs(search: $s) { totalCount } }",
    "Query.integrations": "query Q($s: String) { integrations(search: $s) { totalCount } }",
    "Flow.integrations": """query Q($s: String) { flow(flowId: "flow-1") {
        integrations(search: $s) { totalCount } } }""",
    "Flow.runs": """query Q($s: String) { flow(flowId: "flow-1") {
        runs(search: $s) { totalCount } } }""",
    "Integration.runs": """query Q($s: String) { integration(integrationId: "int-1") {
        runs(search: $s) { totalCount } } }""",
}


@pytest.mark.parametrize("where", sorted(SEARCHES))
async def test_search_past_its_limit_is_refused(seeded: None, viewer: Api, where: str) -> None:
    for length in (SEARCH_MAX + 1, 60_000):
        error = await refusal(viewer, SEARCHES[where], {"s": "x" * length})
        assert error["extensions"]["argument"] == "search"
        assert error["extensions"]["maxLength"] == SEARCH_MAX
        assert f'"search" of {where} takes at most {SEARCH_MAX} characters' in error["message"]
        assert f"got {length:,}" in error["message"]


@pytest.mark.parametrize("where", sorted(SEARCHES))
async def test_search_at_its_limit_runs(seeded: None, viewer: Api, where: str) -> None:
    # characters, not bytes: 256 four-byte characters are 1,024 bytes
    for text in ("x" * SEARCH_MAX, "\U0001f600" * SEARCH_MAX):
        data = await viewer.data(SEARCHES[where], {"s": text})
        while "totalCount" not in data:
            [data] = data.values()
        assert data == {"totalCount": 0}


async def test_name_contains_past_its_limit_is_refused(seeded: None, viewer: Api) -> None:
    query = "query Q($s: String) { flows(filter: {nameContains: $s}) { totalCount } }"
    # 60,000 bytes of pattern was "LIKE or GLOB pattern too complex" (INTERNAL) on SQLite
    error = await refusal(viewer, query, {"s": "%" * 60_000})
    assert error["extensions"]["argument"] == "filter.nameContains"
    assert f"at most {NAME_CONTAINS_MAX} characters" in error["message"]
    # the whole filter as a variable, and as a literal
    query = "query Q($f: FlowFilter) { flows(filter: $f) { totalCount } }"
    error = await refusal(viewer, query, {"f": {"nameContains": "a" * (NAME_CONTAINS_MAX + 1)}})
    assert error["extensions"]["argument"] == "filter.nameContains"
    literal = '{ flows(filter: {nameContains: "' + "a" * 300 + '"}) { totalCount } }'
    assert (await refusal(viewer, literal, {}))["extensions"]["argument"] == "filter.nameContains"


async def test_name_contains_at_its_limit_runs(seeded: None, viewer: Api) -> None:
    query = """query Q($s: String) { flows(filter: {nameContains: $s}) {
        nodes { flowId } } }"""
    whole = await viewer.data(query, {"s": "N" * NAME_CONTAINS_MAX})
    assert whole["flows"]["nodes"] == [{"flowId": "flow-long"}]
    escaped = await viewer.data(query, {"s": "%" * NAME_CONTAINS_MAX})  # 514-byte pattern
    assert escaped["flows"]["nodes"] == []


async def test_defaults_fragments_and_aliases_are_checked(seeded: None, viewer: Api) -> None:
    long = "x" * (SEARCH_MAX + 1)
    by_default = 'query Q($s: String = "LONG") { runs(search: $s) { totalCount } }'.replace(
        "LONG", long
    )
    assert (await refusal(viewer, by_default, {}))["extensions"]["argument"] == "search"
    in_fragment = """query Q($s: String) { flow(flowId: "flow-1") { ...F } }
        fragment F on Flow { a: integrations { totalCount } b: integrations(search: $s) {
          totalCount } }"""
    error = await refusal(viewer, in_fragment, {"s": long})
    assert "Flow.integrations" in error["message"]
    on_node = """query Q($id: ID!, $s: String) { node(id: $id) {
        ... on Integration { runs(search: $s) { totalCount } } } }"""
    gid = base64.urlsafe_b64encode(b"Integration:int-1").rstrip(b"=").decode()
    error = await refusal(viewer, on_node, {"id": gid, "s": long})
    assert "Integration.runs" in error["message"]


async def test_root_lookups_answer_null_for_ids_that_cannot_exist(
    seeded: None, viewer: Api
) -> None:
    query = """query Q($s: String!) { flow(flowId: $s) { id } integration(integrationId: $s) { id }
        run(runId: $s) { id } step(stepId: $s) { id } endUser(userId: $s) { id } }"""
    for text in ("x" * (ENGINE_ID_MAX + 1), "x" * (USER_TEXT_MAX + 1), "x" * 60_000):
        data = await viewer.data(query, {"s": text})
        assert data == dict.fromkeys(("flow", "integration", "run", "step", "endUser"))


MUTATIONS = ["disableIntegration", "enableIntegration", "deleteIntegration"]


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_action_ids_past_their_limit_are_refused(
    seeded: None, admin: Api, mutation: str
) -> None:
    query = "mutation M($id: String!) { " + mutation + "(integrationId: $id) { status } }"
    error = await refusal(admin, query, {"id": "x" * (ENGINE_ID_MAX + 1)})
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "integrationId",
        "maxLength": ENGINE_ID_MAX,
    }
    at_limit = await admin.raw(query, {"id": "x" * ENGINE_ID_MAX})
    assert [err["extensions"]["code"] for err in at_limit["errors"]] == ["NOT_FOUND"]
    assert (await admin.data('{ integration(integrationId: "int-1") { status } }')) == {
        "integration": {"status": "ENABLED"}
    }


async def test_bulk_and_task_limit_ids_past_their_limit_are_refused(
    seeded: None, admin: Api
) -> None:
    bulk = "mutation M($ids: [String!]!) { disableIntegrations(integrationIds: $ids) { status } }"
    error = await refusal(admin, bulk, {"ids": ["int-1", "x" * (ENGINE_ID_MAX + 1)]})
    assert error["extensions"]["argument"] == "integrationIds[1]"
    assert (await admin.data('{ integration(integrationId: "int-1") { status } }')) == {
        "integration": {"status": "ENABLED"}
    }
    limit = "mutation M($u: String!) { setTaskLimit(userId: $u, limit: 5) { userId } }"
    error = await refusal(admin, limit, {"u": "u" * (USER_TEXT_MAX + 1)})
    assert error["extensions"]["argument"] == "userId"
    assert error["extensions"]["maxLength"] == USER_TEXT_MAX
    at_limit = await admin.raw(limit, {"u": "u" * USER_TEXT_MAX})
    assert [err["extensions"]["code"] for err in at_limit["errors"]] == ["NOT_FOUND"]


async def test_notification_texts_past_their_limit_are_refused(admin: Api) -> None:
    save = (
        "mutation M($input: ErrorNotificationsInput!) {"
        " setErrorNotifications(input: $input) { enabled } }"
    )
    long_url = "https://hooks.example.com/" + "x" * WEBHOOK_URL_MAX
    error = await refusal(admin, save, {"input": {"webhookUrl": long_url}})
    assert error["extensions"]["argument"] == "input.webhookUrl"
    assert error["extensions"]["maxLength"] == WEBHOOK_URL_MAX
    error = await refusal(admin, save, {"input": {"flowIds": ["f", "x" * (ENGINE_ID_MAX + 1)]}})
    assert error["extensions"]["argument"] == "input.flowIds[1]"
    listed = (
        "query Q($f: NotificationDeliveryFilter) {"
        " notificationDeliveries(filter: $f) { totalCount } }"
    )
    error = await refusal(admin, listed, {"f": {"integrationId": ["x" * (ENGINE_ID_MAX + 1)]}})
    assert error["extensions"]["argument"] == "filter.integrationId[0]"
    again = "mutation M($id: ID!) { redeliverNotification(id: $id) { id } }"
    error = await refusal(admin, again, {"id": "m" * (WEBHOOK_ID_MAX + 1)})
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "id",
        "maxLength": WEBHOOK_ID_MAX,
    }


async def test_global_ids_past_their_limit_are_refused(ingester: Api, viewer: Api) -> None:
    # the longest ID that names something: a userId of 256 four-byte characters
    user_id = "\U0001f600" * USER_TEXT_MAX
    result = await ingester.data(
        e.INGEST, {"events": [e.flow(), e.integration("int-1", user_id=user_id)]}
    )
    assert result["ingestEvents"]["rejected"] == []
    user = await viewer.data("query Q($u: String!) { endUser(userId: $u) { id } }", {"u": user_id})
    gid = user["endUser"]["id"]
    assert len(gid) == GLOBAL_ID_MAX
    query = "query Q($id: ID!) { node(id: $id) { ... on EndUser { userId } } }"
    assert await viewer.data(query, {"id": gid}) == {"node": {"userId": user_id}}
    error = await refusal(viewer, query, {"id": gid + "AAAA"})  # decodes, with NULs
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "id",
        "maxLength": GLOBAL_ID_MAX,
    }
    many = "query Q($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    error = await refusal(viewer, many, {"ids": [gid, "A" * 100_000]})
    assert error["extensions"]["argument"] == "ids[1]"


# Text arguments that take any length on purpose: lookups (null for what cannot exist),
# cursors (decoded and checked, BAD_USER_INPUT), and ingest's events (each rejected on its own).
UNLIMITED = {
    ("Query", "flow", "flowId"),
    ("Query", "integration", "integrationId"),
    ("Query", "run", "runId"),
    ("Query", "step", "stepId"),
    ("Query", "endUser", "userId"),
}


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _is_text(type_: Any) -> bool:
    named = _named(type_)
    return isinstance(named, GraphQLScalarType) and named.name in ("String", "ID")


def _ingest_inputs() -> set[str]:
    """The input types ingestEvents takes, and theirs."""
    field = schema._schema.mutation_type.fields["ingestEvents"]  # type: ignore[union-attr]
    todo = [_named(arg.type) for arg in field.args.values()]
    seen: set[str] = set()
    while todo:
        named = todo.pop()
        if isinstance(named, GraphQLInputObjectType) and named.name not in seen:
            seen.add(named.name)
            todo += [_named(f.type) for f in named.fields.values()]
    return seen


def test_every_text_argument_declares_a_limit() -> None:
    gql = schema._schema
    ingest = _ingest_inputs()
    missing = []
    for type_name, named in gql.type_map.items():
        if type_name.startswith("__"):
            continue
        for field_name, field in (getattr(named, "fields", None) or {}).items():
            for arg_name, arg in (getattr(field, "args", None) or {}).items():
                coordinate = (type_name, field_name, arg_name)
                if arg_name in ("after", "before") or field_name == "ingestEvents":
                    continue
                limit = arg.extensions["strawberry-definition"].metadata.get(LIMIT)
                if _is_text(arg.type) and limit is None and coordinate not in UNLIMITED:
                    missing.append(coordinate)
                if limit is not None:
                    assert f"at most {limit.max_chars:,} characters" in arg.description.lower()
        if isinstance(named, GraphQLInputObjectType) and type_name not in ingest:
            for field_name, input_field in named.fields.items():
                limit = input_field.extensions["strawberry-definition"].metadata.get(LIMIT)
                if _is_text(input_field.type) and limit is None:
                    missing.append((type_name, field_name))
    assert missing == []


# The engine-ID rule written out: its character class or its length bound in a regex.
ENGINE_ID_TEXT_COPIES = (ENGINE_ID_CHARS, f"{{1,{ENGINE_ID_MAX}}}")


def test_the_engine_id_rule_is_written_once() -> None:
    # given every module of the gateway but gateway/limits.py
    root = Path(gateway.__file__).parent
    modules = {
        path.relative_to(root.parent).as_posix(): path.read_text(encoding="utf-8")
        for path in root.rglob("*.py")
        if path.name != "limits.py" or path.parent != root
    }
    assert "gateway/ingest/events.py" in modules
    # when they are searched for the rule's text, then none has it
    copies = {
        name for name, text in modules.items() if any(c in text for c in ENGINE_ID_TEXT_COPIES)
    }
    assert copies == set(), f"copies of gateway.limits.ENGINE_ID: {sorted(copies)}"


def test_times_and_printable_text_have_one_definition() -> None:
    from gateway import ids, times
    from gateway.ingest import events
    from gateway.types import scalars

    # the API's times, in the schema and in the ingest messages, are written by one function
    assert scalars.serialize_datetime is times.iso
    assert events.iso is times.iso
    # userId and eventId follow the same rule of printable text, each with its own limit
    assert ids.is_user_id("u" * USER_TEXT_MAX)
    assert not ids.is_user_id("u" * (USER_TEXT_MAX + 1))
    assert not ids.is_user_id("a\nb")
    assert events.valid_event_id("e" * EVENT_ID_MAX)
    assert not events.valid_event_id("e" * (EVENT_ID_MAX + 1))
    assert not events.valid_event_id("")


async def test_an_event_id_past_its_limit_is_rejected_naming_it(ingester: Api) -> None:
    # given a valid event whose eventId is one character too long
    item = e.flow(t=0)
    item["flowUpserted"]["eventId"] = "e" * (EVENT_ID_MAX + 1)
    # when it is ingested, then it is rejected with the limit in the reason
    result = (await ingester.data(e.INGEST, {"events": [item]}))["ingestEvents"]
    [rejected] = result["rejected"]
    assert rejected["code"] == "BAD_USER_INPUT"
    assert rejected["message"] == f"eventId must be 1-{EVENT_ID_MAX} printable characters."


async def test_a_refusal_is_one_log_line(
    seeded: None, viewer: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    await refusal(viewer, SEARCHES["Query.runs"], {"s": "x" * 60_000})
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.errors"]
    assert len(lines) == 1, lines
    assert "BAD_USER_INPUT" in lines[0]
    assert "x" * 100 not in "\n".join(r.getMessage() for r in caplog.records)
