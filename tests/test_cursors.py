"""Unit tests of keyset cursors and global IDs (no database)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.cursors import VERSION, decode_cursor, encode_cursor
from gateway.errors import BadUserInput
from gateway.ids import decode_global_id, encode_global_id, is_engine_id


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        0,
        -5,
        2**53 + 1,
        2**63 - 1,
        -(2**63),
        None,
        "text:with/odd=chars",
    ],
)
def test_round_trip(value: object) -> None:
    cursor = encode_cursor("START_TIME:DESC", value, "run-1")
    assert "=" not in cursor
    assert decode_cursor(cursor, "START_TIME:DESC") == (value, "run-1")


def test_datetime_keeps_the_instant_and_comes_back_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    value = datetime(2026, 11, 1, 13, 0, 0, 5, tzinfo=paris)
    decoded, key = decode_cursor(encode_cursor("CREATED_AT:ASC", value, "k"), "CREATED_AT:ASC")
    assert decoded == value
    assert decoded.utcoffset() == timedelta(0)
    assert key == "k"


def test_id_with_colons_and_at_signs() -> None:
    cursor = encode_cursor("POSITION:ASC", 3, "a:b@c.d-e_f")
    assert decode_cursor(cursor, "POSITION:ASC") == (3, "a:b@c.d-e_f")


def test_cursors_are_url_safe() -> None:
    cursor = encode_cursor("DURATION:DESC", 10**12, "?" * 50 + ">" * 50)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_wrong_order_is_bad_user_input() -> None:
    cursor = encode_cursor("START_TIME:DESC", None, "run-1")
    with pytest.raises(BadUserInput, match="order"):
        decode_cursor(cursor, "START_TIME:ASC")
    with pytest.raises(BadUserInput):
        decode_cursor(cursor, "DURATION:DESC")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "!!!!",
        "%%%",
        "é",
        _raw([VERSION + 1, "START_TIME:DESC", 1, "run-1"]),  # unknown version
        _raw([0, "START_TIME:DESC", 1, "run-1"]),
        _raw(["1", "START_TIME:DESC", 1, "run-1"]),
        _raw([VERSION, "START_TIME:DESC", 1]),  # too short
        _raw([VERSION, "START_TIME:DESC", 1, "run-1", "extra"]),
        _raw([VERSION, "START_TIME:DESC", 1, 7]),  # id not a string
        _raw([VERSION, "START_TIME:DESC", 1.5, "run-1"]),  # float sort value
        _raw([VERSION, "START_TIME:DESC", {"t": "x"}, "run-1"]),
        _raw([VERSION, "START_TIME:DESC", {"t": 1, "u": 2}, "run-1"]),
        _raw([VERSION, "START_TIME:DESC", [1], "run-1"]),
        _raw([True, "START_TIME:DESC", 1, "run-1"]),  # a bool is no version
        _raw([VERSION, "START_TIME:DESC", True, "run-1"]),  # nor a sort value
        _raw([VERSION, "START_TIME:DESC", {"t": True}, "run-1"]),
        _raw([VERSION, "START_TIME:DESC", {"t": 10**20}, "run-1"]),  # past year 9999
        _raw([VERSION, "START_TIME:DESC", {"t": -(10**20)}, "run-1"]),
        _raw([VERSION, "START_TIME:DESC", 2**63, "run-1"]),  # beyond 64 bits
        _raw([VERSION, "START_TIME:DESC", -(2**63) - 1, "run-1"]),
        _raw([VERSION, "START_TIME:DESC", 1, ""]),  # not an engine ID
        _raw([VERSION, "START_TIME:DESC", 1, "run\u0000"]),
        _raw([VERSION, "START_TIME:DESC", 1, "x" * 129]),
        _raw([VERSION, "START_TIME:DESC", 1, "a b"]),
        _raw({"v": VERSION}),
        _raw("just a string"),
        base64.urlsafe_b64encode(b"\xff\xfe not json").decode(),
    ],
)
def test_garbage_is_bad_user_input(cursor: str) -> None:
    with pytest.raises(BadUserInput):
        decode_cursor(cursor, "START_TIME:DESC")


def test_padding_is_tolerated() -> None:
    cursor = encode_cursor("START_TIME:DESC", 1, "r")
    padded = cursor + "=" * (-len(cursor) % 4)
    assert decode_cursor(padded, "START_TIME:DESC") == (1, "r")


# global IDs -----------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", ["Flow", "Integration", "Run", "Step"])
@pytest.mark.parametrize("engine_id", ["x", "run-1", "a:b:c", "user@example.com", "A" * 128])
def test_global_id_round_trip(type_name: str, engine_id: str) -> None:
    gid = encode_global_id(type_name, engine_id)
    assert "=" not in gid
    assert decode_global_id(gid) == (type_name, engine_id)


def test_global_id_is_unpadded_base64url_of_type_and_id() -> None:
    assert encode_global_id("Run", "r-1") == base64.urlsafe_b64encode(b"Run:r-1").decode().rstrip(
        "="
    )


@pytest.mark.parametrize(
    "gid",
    [
        "",
        "!!!",
        "é",
        base64.urlsafe_b64encode(b"NoColonHere").decode(),
        base64.urlsafe_b64encode(b":missing-type").decode(),
        base64.urlsafe_b64encode(b"Flow:").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe:\xfa").decode(),
    ],
)
def test_undecodable_global_id_is_bad_user_input(gid: str) -> None:
    with pytest.raises(BadUserInput):
        decode_global_id(gid)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("x", True),
        ("run-1.a_b:c@d", True),
        ("A" * 128, True),
        ("", False),
        ("A" * 129, False),
        ("a b", False),
        ("é", False),
        ("a\x00", False),
        ("a/b", False),
    ],
)
def test_engine_ids(text: str, ok: bool) -> None:
    assert is_engine_id(text) is ok
