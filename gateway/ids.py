"""Opaque global IDs: unpadded base64url of ``Type:engineId``, resolved inside the caller's
account (the account is never part of the ID, so an ID leaks nothing about tenancy)."""

from __future__ import annotations

import base64
import binascii
import re

from gateway.errors import BadUserInput

# What the engine may use as an ID (the ingest path refuses anything else): a lookup of any
# other text finds nothing, without asking the database (PostgreSQL refuses NUL bytes).
ENGINE_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")


def is_engine_id(text: str) -> bool:
    return ENGINE_ID.fullmatch(text) is not None


def is_user_id(text: str) -> bool:
    """End-user IDs come from the account's own app: any printable text up to 256."""
    return 1 <= len(text) <= 256 and text.isprintable()


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
