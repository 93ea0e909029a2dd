"""Keyset cursors: a version, the order they belong to, the sort value and the row's id."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from gateway.errors import BadUserInput

VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _pack(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": (value - _EPOCH) // _MICRO}
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], int):
        return _EPOCH + value["t"] * _MICRO
    if value is None or isinstance(value, int | str):
        return value
    raise ValueError("bad sort value")



def encode_cursor(order: str, value: Any, key: str) -> str:
    raw = orjson.dumps([VERSION, order, _pack(value), key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, order: str) -> tuple[Any, str]:
    """The (sort value, id) of a cursor made for ``order``; BAD_USER_INPUT otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, cursor_order, value, key = orjson.loads(raw)
        if version != VERSION or not isinstance(key, str):
            raise ValueError("bad version")
        value = _unpack(value)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise BadUserInput(f"{cursor!r} is not a valid cursor.") from None
    if cursor_order != order:
        raise BadUserInput(
            f"The cursor was made for the order {cursor_order}, not {order}: "
            "start again without after/before when you change orderBy."
        )
    return value, key
