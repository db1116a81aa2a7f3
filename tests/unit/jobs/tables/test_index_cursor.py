"""Listing cursors: opaque, round-trip, and strictly validated."""

from __future__ import annotations

import base64
import json

import pytest

from jobs.domain.errors import InvalidCursorError
from jobs.tables.index import decode_cursor, encode_cursor

ROW_KEY = "8234567890123456_0b9c1f7e-2f55-4a0e-9d0c-6f1f3f0f8a11"


def _b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_round_trip_is_url_safe() -> None:
    cursor = encode_cursor(ROW_KEY)
    assert decode_cursor(cursor) == ROW_KEY
    assert cursor.replace("-", "").replace("_", "").isalnum()
    assert ROW_KEY not in cursor


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "abc=",  # padding is never part of a cursor
        "a",  # not a whole base64 quantum
        "x" * 2000,
        _b64([1, 2]),
        _b64({}),
        _b64({"v": 1}),
        _b64({"v": 2, "after": ROW_KEY}),
        _b64({"v": True, "after": ROW_KEY}),
        _b64({"v": 1, "after": 5}),
        _b64({"v": 1, "after": "123_abc"}),
        _b64({"v": 1, "after": "8234567890123456_a/b"}),
        _b64({"v": 1, "after": ROW_KEY, "extra": 1}),
        base64.urlsafe_b64encode(b"\xff\xfe not json").decode().rstrip("="),
    ],
)
def test_malformed_cursors_are_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)


def test_invalid_cursor_is_a_value_error() -> None:
    assert issubclass(InvalidCursorError, ValueError)
