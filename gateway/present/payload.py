"""A stored payload as the API shows it: headers, bodies charged against the response budget,
JSON parsed when it can be shown, objects.

Bodies count against the operation's response budget as they are read: past it they read as
null and the endpoint answers RESPONSE_TOO_LARGE instead of the data.
"""

from __future__ import annotations

from typing import Any

import orjson

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


def parse_json(body: str | None, truncated: bool) -> Any:
    """The body parsed as JSON; None if it is absent, truncated, not JSON or too deep."""
    if body is None or truncated:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return presentable(parsed, body)


def charged(budget: Any, body: str | None) -> str | None:
    """``body`` if it still fits the response budget (it is then counted), else None."""
    if body is None or budget.take(len(body)):
        return body
    return None


def headers(pairs: list[list[str]] | None) -> list[tuple[str, str]]:
    return [(n, v) for n, v in pairs or []]


def has_response(row: Any) -> bool:
    """A step that never got a response (a timeout, a refused connection) has none."""
    return row.response_status is not None


def response_size(row: Any) -> int:
    return row.response_size or 0


def response_truncated(row: Any) -> bool:
    return bool(row.response_truncated)


def objects(row: Any) -> list[tuple[str, Any]]:
    return [(o["key"], presentable(o.get("value"))) for o in row.objects]
