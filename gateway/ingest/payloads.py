"""What of a step's payload is stored: redacted, storable text, bodies capped in size."""

from __future__ import annotations

from typing import Any

from gateway.ingest.bodies import cap_body, size_bytes, storable
from gateway.ingest.redaction import Redactor

Row = dict[str, Any]


def stored_payload(
    redact: Redactor, body_limit: int, account_id: str, step_id: str, payload: dict[str, Any]
) -> Row:
    """The payload row as stored: secrets redacted, text made storable, bodies capped."""
    request = payload["request"]
    response = payload.get("response")
    req_body = cap_body(redact.body(request.get("body")), body_limit)
    row: Row = {
        "account_id": account_id,
        "step_id": step_id,
        "request_method": request["method"],
        "request_url": storable(redact.url(request["url"])),
        "request_headers": _headers(redact, request.get("headers") or []),
        "request_body": req_body.text,
        "request_size": size_bytes(request.get("body")),
        "request_truncated": req_body.truncated,
        "response_status": None,
        "response_headers": None,
        "response_body": None,
        "response_size": None,
        "response_truncated": None,
        "objects": [
            {
                "key": storable(obj["key"]),
                "value": _storable_json(redact.json_value(obj.get("value"))),
            }
            for obj in payload.get("objects") or []
        ],
    }
    if response is not None:
        resp_body = cap_body(redact.body(response.get("body")), body_limit)
        row.update(
            response_status=response["status_code"],
            response_headers=_headers(redact, response.get("headers") or []),
            response_body=resp_body.text,
            response_size=size_bytes(response.get("body")),
            response_truncated=resp_body.truncated,
        )
    return row


def _headers(redactor: Redactor, headers: list[dict[str, str]]) -> list[list[str]]:
    pairs = redactor.headers([(h["name"], h["value"]) for h in headers])
    return [[storable(name), storable(value)] for name, value in pairs]


def _storable_json(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {
            storable(k) if isinstance(k, str) else k: _storable_json(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_storable_json(v) for v in value]
    return value
