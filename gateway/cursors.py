"""Keyset cursors: a version, the order they belong to, the sort value and the row's id."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from gateway.errors import BadUserInput
from gateway.ids import is_engine_id

VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_INT64 = 2**63


def _pack(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": (value - _EPOCH) // _MICRO}
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"}:
        micros = value["t"]
        if isinstance(micros, int) and not isinstance(micros, bool):
            return _EPOCH + micros * _MICRO  # OverflowError past year 9999
        raise ValueError("bad time")
    if isinstance(value, bool):
        raise ValueError("bad sort value")
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError("sort value out of range")
        return value
    if value is None or isinstance(value, str):
        return value
    raise ValueError("bad sort value")


def encode_cursor(order: str, value: Any, key: str) -> str:
    raw = orjson.dumps([VERSION, order, _pack(value), key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, order: str) -> tuple[Any, str]:
    """The (sort value, id) of a cursor made for ``order``; BAD_USER_INPUT otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        version, cursor_order, value, key = orjson.loads(raw)
        if type(version) is not int or version != VERSION:
            raise ValueError("bad version")
        if not isinstance(key, str) or not is_engine_id(key):
            raise ValueError("bad key")
        value = _unpack(value)
    except (binascii.Error, ValueError, TypeError, OverflowError, orjson.JSONDecodeError):
        raise BadUserInput(f"{cursor[:200]!r} is not a valid cursor.") from None
    if cursor_order != order:
        raise BadUserInput(
            f"The cursor was made for the order {cursor_order}, not {order}: "
            "start again without after/before when you change orderBy."
        )
    return value, key


# Event cursors: a subscription event's position in its account's change log.
EVENT_VERSION = 1
_EVENT = "event"


def encode_event_cursor(seq: int) -> str:
    raw = orjson.dumps([EVENT_VERSION, _EVENT, seq])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_event_cursor(cursor: str) -> int:
    """The change-log seq of an event's cursor; BAD_USER_INPUT for anything else (a page
    cursor included)."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        version, kind, seq = orjson.loads(raw)
        if type(version) is not int or version != EVENT_VERSION or kind != _EVENT:
            raise ValueError("not an event cursor")
        if type(seq) is not int or not 0 <= seq < _INT64:
            raise ValueError("bad seq")
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise BadUserInput(
            f"{cursor[:200]!r} is not the cursor of a subscription event; pass the cursor of"
            " the last event received."
        ) from None
    return seq
