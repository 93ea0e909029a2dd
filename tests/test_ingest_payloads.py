"""Payloads end to end: secrets never reach storage, harmless data is kept byte for byte, large
bodies are stored truncated."""

from __future__ import annotations

import json
import uuid
from typing import Any

from gateway.services import Services
from tests import events as e
from tests.conftest import Api
from tests.test_ingest_support import RECENT, client, ingest_direct, send

B = RECENT
R = "[REDACTED]"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

PAYLOAD = """query($s: String!) { step(stepId: $s) { payload {
  request { method url headers { name value } body bodyJson sizeBytes truncated }
  response { statusCode bodyRaw bodyJson sizeBytes truncated headers { name value } }
  objects { key value } } } }"""


async def _ingest_step(ingester: Api, payload: dict[str, object], step_id: str = "s1") -> None:
    result = await send(
        ingester,
        [
            e.flow(t=B),
            e.integration("int-1", t=B + 1),
            e.run_started("run-1", "int-1", B + 10),
            e.step_finished(step_id, "run-1", 1, B + 11, B + 12, payload=payload),
        ],
    )
    assert result["rejected"] == []


async def test_secrets_are_redacted_and_harmless_data_kept(ingester: Api, viewer: Api) -> None:
    harmless_body = '{"contact":  {"name": "Ada Lovelace", "tags": ["a", "b"]}, "n": 1.50}'
    request_body = json.dumps(
        {"user": {"name": "Ada", "profile": {"password": "hunter2"}}, "note": "hello \u00e9t\u00e9"}
    )
    response_body = f'{{"id": 42, "message": "issued {JWT} today", "ok": true}}'
    await _ingest_step(
        ingester,
        {
            "request": {
                "method": "POST",
                "url": "https://api.example.com/v1/contacts?api_key=SECRET123&limit=10&q=caf%C3%A9",
                "headers": [
                    {"name": "Authorization", "value": "Bearer abc.def.ghi"},
                    {"name": "Content-Type", "value": "application/json; charset=utf-8"},
                    {"name": "X-Request-Id", "value": "req-123"},
                    {"name": "X-Api-Key", "value": "k-987"},
                ],
                "body": request_body,
            },
            "response": {
                "statusCode": 201,
                "headers": [
                    {"name": "Set-Cookie", "value": "sid=abc; HttpOnly"},
                    {"name": "Content-Length", "value": "120"},
                ],
                "body": response_body,
            },
            "objects": [
                {"key": "contact", "value": {"name": "Ada", "api_token": "t-1", "n": [1, 2]}},
                {"key": "raw", "value": harmless_body},
                {"key": "count", "value": 3},
            ],
        },
    )
    payload = (await viewer.data(PAYLOAD, {"s": "s1"}))["step"]["payload"]
    request, response = payload["request"], payload["response"]
    assert request["method"] == "POST"
    assert request["url"] == f"https://api.example.com/v1/contacts?api_key={R}&limit=10&q=caf%C3%A9"
    assert request["headers"] == [
        {"name": "Authorization", "value": R},
        {"name": "Content-Type", "value": "application/json; charset=utf-8"},
        {"name": "X-Request-Id", "value": "req-123"},
        {"name": "X-Api-Key", "value": R},
    ]
    assert "hunter2" not in request["body"]
    assert request["bodyJson"] == {
        "user": {"name": "Ada", "profile": {"password": R}},
        "note": "hello \u00e9t\u00e9",
    }
    assert request["sizeBytes"] == len(request_body.encode())
    assert request["truncated"] is False
    assert response["statusCode"] == 201
    assert response["headers"] == [
        {"name": "Set-Cookie", "value": R},
        {"name": "Content-Length", "value": "120"},
    ]
    assert JWT not in response["bodyRaw"]
    assert response["bodyJson"] == {"id": 42, "message": f"issued {R} today", "ok": True}
    assert response["sizeBytes"] == len(response_body.encode())
    assert payload["objects"] == [
        {"key": "contact", "value": {"name": "Ada", "api_token": R, "n": [1, 2]}},
        {"key": "raw", "value": harmless_body},
        {"key": "count", "value": 3},
    ]


async def test_harmless_bodies_are_byte_identical(ingester: Api, viewer: Api) -> None:
    body = '{ "b": 1,  "a": [1.0, 2e3, "x\\u00e9"], "nested": {"k": null} }\n'
    text = 'plain text \u2603 with "quotes" and a url https://example.com/?page=2'
    await _ingest_step(
        ingester,
        {
            "request": {
                "method": "GET",
                "url": "https://example.com/a?b=1&c=%20d",
                "headers": [{"name": "Accept", "value": "*/*"}],
                "body": body,
            },
            "response": {"statusCode": 200, "headers": [], "body": text},
        },
    )
    payload = (await viewer.data(PAYLOAD, {"s": "s1"}))["step"]["payload"]
    assert payload["request"]["url"] == "https://example.com/a?b=1&c=%20d"
    assert payload["request"]["body"] == body
    assert payload["response"]["bodyRaw"] == text
    assert payload["response"]["bodyJson"] is None
    assert payload["objects"] == []


async def test_large_body_is_stored_truncated(ingester: Api, viewer: Api) -> None:
    item = '{"name": "row \u00e9", "value": 12345}'
    body = "[" + ",".join([item] * 10_000) + "]"
    size = len(body.encode())
    assert size > 300 * 1024
    await _ingest_step(
        ingester,
        {
            "request": {"method": "GET", "url": "https://example.com/rows"},
            "response": {"statusCode": 200, "body": body},
        },
    )
    payload = (await viewer.data(PAYLOAD, {"s": "s1"}))["step"]["payload"]
    response = payload["response"]
    assert response["truncated"] is True
    assert response["sizeBytes"] == size
    assert len(response["bodyRaw"].encode()) <= 256 * 1024
    assert body.startswith(response["bodyRaw"])
    assert response["bodyJson"] is None
    assert payload["request"]["body"] is None
    assert payload["request"]["sizeBytes"] == 0
    assert payload["request"]["truncated"] is False


async def test_step_without_response_or_payload(ingester: Api, viewer: Api) -> None:
    await _ingest_step(ingester, {"request": {"method": "DELETE", "url": "https://x.test/1"}})
    await send(ingester, [e.step_finished("s2", "run-1", 2, B + 12, B + 13)])
    data = await viewer.data(PAYLOAD, {"s": "s1"})
    assert data["step"]["payload"]["response"] is None
    assert data["step"]["payload"]["request"]["headers"] == []
    assert (await viewer.data(PAYLOAD, {"s": "s2"}))["step"]["payload"] is None


async def test_unstorable_characters_never_fail_the_batch(ingester: Api, viewer: Api) -> None:
    """NUL (refused by PostgreSQL text) is stored as U+FFFD; a method too long for its column
    or a non-printable eventId rejects only its event. (Lone surrogates do not get past the
    HTTP layer's JSON parser; the service replaces them too, see the next test.)"""
    await send(
        ingester,
        [e.flow(t=B), e.integration("int-1", t=B + 1), e.run_started("run-1", "int-1", B + 10)],
    )
    payload = {
        "request": {
            "method": "GET",
            "url": "https://x.test/a\u0000b",
            "headers": [{"name": "X-A\u0000", "value": "v\u0000"}],
            "body": "a\u0000b\u0000c",
        },
        "response": {"statusCode": 200, "body": '{"k": "\\u0000"}'},
        "objects": [{"key": "o\u0000", "value": {"k\u0000": ["\u0000", 1]}}],
    }
    long_method = {"request": {"method": "X" * 17, "url": "https://x.test/"}}
    batch = [
        e.step_finished("s1", "run-1", 1, B + 11, B + 12, payload=payload),
        e.step_finished("s2", "run-1", 2, B + 12, B + 13, payload=long_method),
        e.ev("appUpserted", B, event_id="bad\u0000id", appId="a1", name="A1"),
        e.ev("appUpserted", B, appId="a2", name="A2", iconUrl="https://x.test/\u0000"),
        e.step_finished("s3", "run-1", 3, B + 13, B + 14),
    ]
    result = await send(ingester, batch)
    assert result["accepted"] == 2
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (1, "BAD_USER_INPUT"),
        (2, "BAD_USER_INPUT"),
        (3, "BAD_USER_INPUT"),
    ]
    stored = (await viewer.data(PAYLOAD, {"s": "s1"}))["step"]["payload"]
    f = "\ufffd"
    assert stored["request"]["url"] == f"https://x.test/a{f}b"
    assert stored["request"]["headers"] == [{"name": f"X-A{f}", "value": f"v{f}"}]
    assert stored["request"]["body"] == f"a{f}b{f}c"
    assert stored["request"]["sizeBytes"] == 5  # as sent
    assert stored["objects"] == [{"key": f"o{f}", "value": {f"k{f}": [f, 1]}}]
    assert stored["response"]["bodyJson"] == {"k": "\u0000"}  # a JSON escape is harmless
    data = await viewer.data('{ run(runId: "run-1") { steps { nodes { stepId } } } }')
    assert [s["stepId"] for s in data["run"]["steps"]["nodes"]] == ["s1", "s3"]


async def test_lone_surrogates_are_stored_as_replacement_characters(
    app_and_services: tuple[Any, Services],
) -> None:
    services = app_and_services[1]
    account_id = f"acct-{uuid.uuid4().hex[:10]}"
    payload = {
        "request": {
            "method": "GET",
            "url": "https://x.test/\ud800",
            "headers": [{"name": "A", "value": "\udc00"}],
            "body": "a\ud800b",
        },
        "objects": [{"key": "k", "value": ["\ud800"]}],
    }
    outcome = await ingest_direct(
        services,
        account_id,
        [
            e.flow(t=B),
            e.integration("int-1", t=B + 1),
            e.run_started("run-1", "int-1", B + 10),
            e.step_finished("s1", "run-1", 1, B + 11, B + 12, payload=payload),
        ],
    )
    assert (outcome.accepted, outcome.rejected) == (4, [])
    async with client(app_and_services, account_id, "viewer") as viewer:
        stored = (await viewer.data(PAYLOAD, {"s": "s1"}))["step"]["payload"]
    f = "\ufffd"
    assert stored["request"]["url"] == f"https://x.test/{f}"
    assert stored["request"]["headers"] == [{"name": "A", "value": f}]
    assert stored["request"]["body"] == f"a{f}b"
    assert stored["request"]["sizeBytes"] == 5
    assert stored["objects"] == [{"key": "k", "value": [f]}]
