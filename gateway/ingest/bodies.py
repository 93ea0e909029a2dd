"""What of a request or response body is stored: redacted first, then capped in size."""

from __future__ import annotations

import re
from dataclasses import dataclass

# What no text column takes on every backend: NUL (PostgreSQL) and lone surrogates (no UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


@dataclass(frozen=True, slots=True)
class StoredBody:
    text: str | None
    size_bytes: int
    truncated: bool


def storable(text: str) -> str:
    """The text with NULs and lone surrogates replaced by U+FFFD (the rest is kept as is)."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def size_bytes(body: str | None) -> int:
    """The size of a body as it was sent (UTF-8), lone surrogates included."""
    return 0 if body is None else len(body.encode("utf-8", "surrogatepass"))


def cap_body(body: str | None, limit_bytes: int) -> StoredBody:
    """``size_bytes`` is the stored text's size before capping; the text is cut on a character
    boundary."""
    if body is None:
        return StoredBody(None, 0, False)
    body = storable(body)
    encoded = body.encode("utf-8")
    if len(encoded) <= limit_bytes:
        return StoredBody(body, len(encoded), False)
    return StoredBody(encoded[:limit_bytes].decode("utf-8", "ignore"), len(encoded), True)
