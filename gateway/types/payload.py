"""What a step sent and received, as stored (secrets redacted, large bodies truncated).

Bodies count against the operation's response budget as they resolve: past it they resolve to
null and the endpoint answers RESPONSE_TOO_LARGE instead of the data.
"""

from __future__ import annotations

from typing import Any

import orjson
import strawberry

from gateway.context import Context
from gateway.types.scalars import JSON

# orjson writes at most 254 levels of nesting; deeper stored JSON is shown as null.
MAX_JSON_DEPTH = 200


def _depth_within(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def presentable(value: Any, text: str | None = None) -> Any:
    """``value`` if the answer can carry it, None if it nests too deeply. ``text``, the JSON it
    was parsed from, lets shallow documents skip the walk (fewer brackets than the limit)."""
    if text is not None and text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return value
    if isinstance(value, dict | list) and not _depth_within(value, MAX_JSON_DEPTH):
        return None
    return value


def _parse_json(body: str | None, truncated: bool) -> Any:
    if body is None or truncated:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return presentable(parsed, body)


def _charged(info: strawberry.Info[Context, None], body: str | None) -> str | None:
    if body is None or info.context.budget.take(len(body)):
        return body
    return None


@strawberry.type
class HttpHeader:
    name: str
    value: str


def _headers(pairs: list[list[str]] | None) -> list[HttpHeader]:
    return [HttpHeader(name=n, value=v) for n, v in pairs or []]


@strawberry.type
class HttpRequest:
    method: str
    url: str
    headers: list[HttpHeader]
    stored_body: strawberry.Private[str | None]
    size_bytes: int = strawberry.field(description="The original size, before truncation.")
    truncated: bool

    @strawberry.field(description="The body as stored (secrets redacted, truncated if large).")
    def body(self, info: strawberry.Info[Context, None]) -> str | None:
        return _charged(info, self.stored_body)

    @strawberry.field(description="The body parsed as JSON; null if it is not JSON or truncated.")
    def body_json(self, info: strawberry.Info[Context, None]) -> JSON | None:
        return _parse_json(_charged(info, self.stored_body), self.truncated)


@strawberry.type
class HttpResponse:
    status_code: int
    headers: list[HttpHeader]
    stored_body: strawberry.Private[str | None]
    size_bytes: int = strawberry.field(description="The original size, before truncation.")
    truncated: bool

    @strawberry.field(description="The body as stored (secrets redacted, truncated if large).")
    def body_raw(self, info: strawberry.Info[Context, None]) -> str | None:
        return _charged(info, self.stored_body)

    @strawberry.field(description="The body parsed as JSON; null if it is not JSON or truncated.")
    def body_json(self, info: strawberry.Info[Context, None]) -> JSON | None:
        return _parse_json(_charged(info, self.stored_body), self.truncated)


@strawberry.type
class PayloadObject:
    key: str
    value: JSON | None


@strawberry.type
class Payload:
    request: HttpRequest
    response: HttpResponse | None
    objects: list[PayloadObject]

    @classmethod
    def from_row(cls, row: Any) -> Payload:
        response = None
        if row.response_status is not None:
            response = HttpResponse(
                status_code=row.response_status,
                headers=_headers(row.response_headers),
                stored_body=row.response_body,
                size_bytes=row.response_size or 0,
                truncated=bool(row.response_truncated),
            )
        return cls(
            request=HttpRequest(
                method=row.request_method,
                url=row.request_url,
                headers=_headers(row.request_headers),
                stored_body=row.request_body,
                size_bytes=row.request_size,
                truncated=row.request_truncated,
            ),
            response=response,
            objects=[
                PayloadObject(key=o["key"], value=presentable(o.get("value")))
                for o in row.objects
            ],
        )
