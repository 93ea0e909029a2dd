"""What a step sent and received, as stored (secrets redacted, large bodies truncated)."""

from __future__ import annotations

from typing import Any

import orjson
import strawberry

from gateway.types.scalars import JSON


def _parse_json(body: str | None, truncated: bool) -> Any:
    if body is None or truncated:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
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
    body: str | None
    size_bytes: int = strawberry.field(description="The original size, before truncation.")
    truncated: bool

    @strawberry.field(description="The body parsed as JSON; null if it is not JSON or truncated.")
    def body_json(self) -> JSON | None:
        return _parse_json(self.body, self.truncated)


@strawberry.type
class HttpResponse:
    status_code: int
    headers: list[HttpHeader]
    body_raw: str | None
    size_bytes: int = strawberry.field(description="The original size, before truncation.")
    truncated: bool

    @strawberry.field(description="The body parsed as JSON; null if it is not JSON or truncated.")
    def body_json(self) -> JSON | None:
        return _parse_json(self.body_raw, self.truncated)


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
                body_raw=row.response_body,
                size_bytes=row.response_size or 0,
                truncated=bool(row.response_truncated),
            )
        return cls(
            request=HttpRequest(
                method=row.request_method,
                url=row.request_url,
                headers=_headers(row.request_headers),
                body=row.request_body,
                size_bytes=row.request_size,
                truncated=row.request_truncated,
            ),
            response=response,
            objects=[PayloadObject(key=o["key"], value=o.get("value")) for o in row.objects],
        )
