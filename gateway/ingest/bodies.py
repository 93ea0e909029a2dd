"""What of a request or response body is stored: redacted first, then capped in size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredBody:
    text: str | None
    size_bytes: int
    truncated: bool


def cap_body(body: str | None, limit_bytes: int) -> StoredBody:
    """``size_bytes`` is the original size; the text is cut on a character boundary."""
    if body is None:
        return StoredBody(None, 0, False)
    encoded = body.encode("utf-8")
    if len(encoded) <= limit_bytes:
        return StoredBody(body, len(encoded), False)
    return StoredBody(encoded[:limit_bytes].decode("utf-8", "ignore"), len(encoded), True)
