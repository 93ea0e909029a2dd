"""What a step sent and received, as stored (secrets redacted, large bodies truncated).

Bodies count against the operation's response budget as they resolve (see
``gateway.present.payload``): past it they resolve to null and the endpoint answers
RESPONSE_TOO_LARGE instead of the data.
"""

from __future__ import annotations

from typing import Any

import strawberry

from gateway.context import Context
from gateway.present import payload as present
from gateway.types.scalars import JSON


def _charged(info: strawberry.Info[Context, None], body: str | None) -> str | None:
    return present.charged(info.context.budget, body)


@strawberry.type
class HttpHeader:
    name: str
    value: str


def _headers(pairs: list[list[str]] | None) -> list[HttpHeader]:
    return [HttpHeader(name=n, value=v) for n, v in present.headers(pairs)]


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
        return present.parse_json(_charged(info, self.stored_body), self.truncated)


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
        return present.parse_json(_charged(info, self.stored_body), self.truncated)


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
        if present.has_response(row):
            response = HttpResponse(
                status_code=row.response_status,
                headers=_headers(row.response_headers),
                stored_body=row.response_body,
                size_bytes=present.response_size(row),
                truncated=present.response_truncated(row),
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
            objects=[PayloadObject(key=k, value=v) for k, v in present.objects(row)],
        )
