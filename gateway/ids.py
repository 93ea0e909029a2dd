"""Opaque global IDs: unpadded base64url of ``Type:engineId``, resolved inside the caller's
account (the account is never part of the ID, so an ID leaks nothing about tenancy)."""

from __future__ import annotations

import base64
import binascii

from gateway.errors import BadUserInput
from gateway.limits import ENGINE_ID, USER_TEXT_MAX


def is_engine_id(text: str) -> bool:
    """What the engine may use as an ID (the ingest path refuses anything else): a lookup of
    any other text finds nothing, without asking the database (PostgreSQL refuses NUL bytes)."""
    return ENGINE_ID.fullmatch(text) is not None


def is_printable_text(text: str, limit: int) -> bool:
    """1 to ``limit`` printable characters: what the API takes for text it does not assign
    (userId, userAuth, eventId, names)."""
    return 1 <= len(text) <= limit and text.isprintable()


def is_user_id(text: str) -> bool:
    """End-user IDs come from the account's own app: any printable text up to a limit."""
    return is_printable_text(text, USER_TEXT_MAX)


def encode_global_id(type_name: str, engine_id: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{engine_id}".encode()).rstrip(b"=").decode()


def decode_global_id(global_id: str) -> tuple[str, str]:
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise BadUserInput(f"{global_id[:200]!r} is not a valid ID.") from None
    type_name, sep, engine_id = raw.partition(":")
    if not sep or not type_name or not engine_id:
        raise BadUserInput(f"{global_id[:200]!r} is not a valid ID.")
    return type_name, engine_id
