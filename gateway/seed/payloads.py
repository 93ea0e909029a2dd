"""``step_payload``: what a step of a given app sent and received, sized and, for failed steps,
answered with that app's real error bodies, so the gateway's redaction has work to do."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from gateway.seed.calls import ACTIONS, Action, CallBuilder, HttpCall, dumps_json
from gateway.seed.events import JSON, STEP_STATUSES, utc_ms
from gateway.seed.fakes import (
    App,
    Credentials,
    RunContext,
    app_of,
    rand_str,
    rand_uuid,
)

# ------------------------------------------------------- per-app HTTP details


def _auth_headers(app: str, creds: Credentials) -> list[tuple[str, str]]:
    token = {
        "slack": creds.slack_token,
        "hubspot": creds.hubspot_token,
        "salesforce": creds.salesforce_token,
        "gmail": creds.google_token,
        "sheets": creds.google_token,
        "stripe": creds.stripe_key,
    }.get(app)
    if token is not None:
        return [("Authorization", f"Bearer {token}")]
    if app == "jira":
        return [("Authorization", f"Basic {creds.jira_basic}")]
    return []  # http: the api_key rides in the query string


_GOOGLE_ERRORS = {
    400: (
        "INVALID_ARGUMENT",
        "badRequest",
        "Invalid value at 'data.values[3]' (type.googleapis.com/google.protobuf.ListValue)",
    ),
    401: (
        "UNAUTHENTICATED",
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "forbidden", "The caller does not have permission"),
    404: ("NOT_FOUND", "notFound", "Requested entity was not found."),
    422: ("FAILED_PRECONDITION", "failedPrecondition", "Precondition check failed."),
    429: (
        "RESOURCE_EXHAUSTED",
        "rateLimitExceeded",
        "Quota exceeded for quota metric 'Write requests' and limit "
        "'Write requests per minute per user'.",
    ),
    500: ("INTERNAL", "backendError", "Internal error encountered."),
    503: ("UNAVAILABLE", "backendError", "The service is currently unavailable."),
}
_SLACK_ERRORS = {
    400: "invalid_arguments", 401: "invalid_auth", 403: "missing_scope",
    404: "channel_not_found", 422: "invalid_blocks", 429: "ratelimited",
    500: "internal_error", 503: "service_unavailable",
}  # fmt: skip
_HUBSPOT_ERRORS = {
    400: (
        "VALIDATION_ERROR",
        "Invalid input JSON on line 1, column 54: Cannot build PublicObjectSearchRequest",
    ),
    401: (
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
    ),
    403: ("MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call."),
    404: ("OBJECT_NOT_FOUND", "resource not found"),
    422: (
        "VALIDATION_ERROR",
        'Property values were not valid: [{"isValid":false,"message":"Email address is invalid",'
        '"error":"INVALID_EMAIL","name":"email"}]',
    ),
    429: ("RATE_LIMITS", "You have reached your ten_secondly_rolling limit."),
    500: ("INTERNAL_ERROR", "internal error"),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable"),
}
_SALESFORCE_ERRORS = {
    400: ("MALFORMED_QUERY", "unexpected token: 'LIKE'"),
    401: ("INVALID_SESSION_ID", "Session expired or invalid"),
    403: ("INSUFFICIENT_ACCESS", "insufficient access rights on cross-reference id"),
    404: ("NOT_FOUND", "The requested resource does not exist"),
    422: ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Mailing country must be an ISO 3166 code"),
    429: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1874301842-77411 (-1208435912)",
    ),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later."),
}
_STRIPE_ERRORS = {
    400: ("invalid_request_error", "parameter_missing", "Missing required param: id."),
    401: (
        "invalid_request_error",
        None,
        "Invalid API Key provided: sk_live_********************{last4}",
    ),
    403: (
        "invalid_request_error",
        "secret_key_required",
        "The provided key does not have the required permissions for this endpoint.",
    ),
    404: ("invalid_request_error", "resource_missing", "No such charge: '{charge}'"),
    422: ("invalid_request_error", "parameter_invalid_integer", "Invalid integer: limit=abc"),
    429: (
        "invalid_request_error",
        "rate_limit",
        "Too many requests hit the API too quickly. "
        "We recommend an exponential backoff of your requests.",
    ),
    500: ("api_error", None, "An unknown error occurred"),
    503: ("api_error", None, "Stripe is temporarily unavailable. Please retry."),
}
_JIRA_ERRORS: dict[int, tuple[dict[str, str], list[str]]] = {
    400: (
        {
            "customfield_10020": "Field 'customfield_10020' cannot be set. "
            "It is not on the appropriate screen, or unknown."
        },
        [],
    ),
    401: ({}, ["You are not authorized to perform this operation. Please log in."]),
    403: ({}, ["You do not have permission to create issues in this project."]),
    404: ({}, ["Project does not exist or you do not have permission to view it."]),
    422: (
        {
            "summary": "You must specify a summary of the issue.",
            "priority": "Specify a valid priority",
        },
        [],
    ),
    429: ({}, ["Rate limit exceeded."]),
    500: ({}, ["Internal server error"]),
    503: ({}, ["Service Unavailable"]),
}
_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip


def _error_body(
    app: str, code: int, rng: random.Random, ctx: RunContext
) -> tuple[JSON, list[tuple[str, str]], str]:
    """(body, extra headers, content type) of an app's error response."""
    headers: list[tuple[str, str]] = []
    if code == 429:
        headers.append(("Retry-After", str(rng.choice((1, 10, 30, 60)))))
    if code == 502:
        html = (
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return html, headers, "text/html"
    json_type = "application/json; charset=utf-8"
    if app == "slack":
        return {"ok": False, "error": _SLACK_ERRORS.get(code, "fatal_error")}, headers, json_type
    if app in ("gmail", "sheets"):
        status, reason, message = _GOOGLE_ERRORS.get(code, _GOOGLE_ERRORS[500])
        body: JSON = {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": status,
            }
        }
        return body, headers, json_type
    if app == "hubspot":
        category, message = _HUBSPOT_ERRORS.get(code, _HUBSPOT_ERRORS[500])
        body = {
            "status": "error",
            "message": message,
            "correlationId": rand_uuid(rng),
            "category": category,
            "links": {"knowledge-base": "https://www.hubspot.com/products/service/knowledge-base"},
        }
        return body, headers, json_type
    if app == "salesforce":
        error_code, message = _SALESFORCE_ERRORS.get(code, _SALESFORCE_ERRORS[500])
        return [{"message": message, "errorCode": error_code}], headers, json_type
    if app == "stripe":
        etype, ecode, message = _STRIPE_ERRORS.get(code, _STRIPE_ERRORS[500])
        message = message.format(last4=ctx.creds.stripe_key[-4:], charge=ctx.charge_id)
        req = f"req_{rand_str(rng, 14)}"
        err: dict[str, JSON] = {"message": message, "type": etype}
        if ecode:
            err["code"] = ecode
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{ecode.replace('_', '-')}"
        err["request_log_url"] = (
            f"https://dashboard.stripe.com/logs/{req}?t={rng.randint(10**9, 2 * 10**9)}"
        )
        headers.append(("Request-Id", req))
        return {"error": err}, headers, json_type
    if app == "jira":
        errors, messages = _JIRA_ERRORS.get(code, _JIRA_ERRORS[500])
        return {"errorMessages": messages, "errors": errors}, headers, json_type
    # generic HTTP API: RFC 9457 problem details
    body = {
        "type": f"https://api.leadscore.io/problems/{code}",
        "title": _REASONS.get(code, "Error"),
        "status": code,
        "detail": "The lead could not be scored." if code < 500 else "Upstream model timeout.",
        "instance": f"/v1/score/{rand_uuid(rng)}",
    }
    return body, headers, "application/problem+json"


_COMMON_REQUEST_HEADERS = (("User-Agent", "integration-engine/4.12.0 (+node-fetch)"),)


def _body_size(call: HttpCall) -> int:
    return max((len(text) for text in call.texts() if text is not None), default=0)


_SIZE_MODEL: dict[str, tuple[float, float]] = {}


def _size_model(action: Action) -> tuple[float, float]:
    """(size with n=1, growth per item) of an action's larger body, measured once."""
    model = _SIZE_MODEL.get(action.key)
    if model is None:
        rng = random.Random(action.key)
        ctx = RunContext.random(rng)
        at = datetime(2026, 1, 1, tzinfo=UTC)
        s1 = _body_size(action.build(CallBuilder(rng, ctx, 1, at, False)))
        s9 = _body_size(action.build(CallBuilder(rng, ctx, 9, at, False)))
        model = _SIZE_MODEL[action.key] = (float(s1), max(1.0, (s9 - s1) / 8))
    return model


def _build_sized(action: Action, b: CallBuilder, target: int) -> HttpCall:
    base, per = _size_model(action)
    b.n = max(1, math.ceil((target - base) / per) + 1)
    call = action.build(b)
    for _ in range(3):
        size = _body_size(call)
        if size < target * 0.85:
            b.n += max(1, math.ceil((target - size) / per))
        elif size > max(target * 1.15, target + 250) and b.n > 1:
            b.n = max(1, b.n - max(1, math.floor((size - target) / per)))
        else:
            break
        call = action.build(b)
    return call


def actions_of(app: App | str) -> list[Action]:
    key = app_of(app).key
    return [a for a in ACTIONS.values() if a.app == key]


def step_payload(
    rng: random.Random,
    app: App | str,
    status: str,
    network_code: int | None = None,
    *,
    action: str | Action | None = None,
    ctx: RunContext | None = None,
    at: datetime | None = None,
    body_bytes: int | None = None,
    leak: bool = False,
) -> dict[str, Any]:
    """A real-looking ``StepPayload`` for a step of ``app``.

    * ``status`` OK: a successful exchange (``network_code`` defaults to the API's own
      2xx; read it back from ``payload["response"]["statusCode"]``).
    * FAILED with a ``network_code``: the app's genuine error body for that code
      (502 is a load balancer's HTML page). FAILED without one: a timeout, with no
      response at all.
    * SKIPPED: the request the step would have sent, no response, no objects.

    ``body_bytes`` is the aimed size of the larger JSON body (default: random,
    0.3-3 KB); ``leak`` adds a Stripe secret key and a JWT to free text where the
    action has some. Request headers always carry the connection's credentials.
    """
    a = app_of(app)
    if action is None:
        choices = actions_of(a)
        if not choices:
            raise ValueError(f"app {a.key!r} has no actions")
        act = choices[0]
    else:
        act = action if isinstance(action, Action) else ACTIONS[action]
    if act.app != a.key:
        raise ValueError(f"action {act.key!r} does not belong to app {a.key!r}")
    if status not in STEP_STATUSES:
        raise ValueError(f"invalid step status {status!r}")
    at = utc_ms(at) if at is not None else datetime(2026, 1, 1, tzinfo=UTC)
    ctx = ctx or RunContext.random(rng)
    target = body_bytes if body_bytes is not None else rng.randint(350, 2600)
    call = _build_sized(act, CallBuilder(rng, ctx, 1, at, leak), target)

    req_headers = [
        *_auth_headers(a.key, ctx.creds),
        ("Accept", "application/json"),
        *_COMMON_REQUEST_HEADERS,
        ("X-Request-Id", rand_uuid(rng)),
    ]
    request_body, success_body = call.texts()
    if request_body is not None:
        req_headers.insert(1, ("Content-Type", "application/json"))
    payload: dict[str, Any] = {
        "request": {
            "method": call.method,
            "url": call.url,
            "headers": _headers(req_headers),
            "body": request_body,
        }
    }
    if status == "SKIPPED":
        payload["objects"] = []
        return payload
    if status == "FAILED" and network_code is None:  # timed out: never got a response
        payload["objects"] = [
            {
                "key": "error",
                "value": {
                    "message": "timeout of 30000ms exceeded",
                    "code": "ECONNABORTED",
                    "attempts": rng.randint(1, 3),
                    "retryable": True,
                },
            }
        ]
        return payload

    if status == "FAILED":
        assert network_code is not None
        body, extra, content_type = _error_body(a.key, network_code, rng, ctx)
        response_body = dumps_json(body)
        code = network_code
        objects: list[dict[str, JSON]] = [
            {
                "key": "error",
                "value": {
                    "message": f"Request failed with status code {code}",
                    "statusCode": code,
                    "code": "ERR_BAD_REQUEST" if code < 500 else "ERR_BAD_RESPONSE",
                    "retryable": code in (429, 500, 502, 503),
                    "attempts": rng.randint(1, 3) if code >= 429 else 1,
                    "response": body if isinstance(body, dict | list) else None,
                },
            }
        ]
    else:
        response_body = success_body or ""
        code = network_code if network_code is not None else call.status_code
        extra, content_type = call.response_headers, "application/json; charset=utf-8"
        objects = call.objects
    resp_headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(response_body.encode()))),
        ("Date", format_datetime(at, usegmt=True)),
        *extra,
    ]
    payload["response"] = {
        "statusCode": code,
        "headers": _headers(resp_headers),
        "body": response_body,
    }
    payload["objects"] = objects
    return payload


def _headers(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]
