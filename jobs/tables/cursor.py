"""Opaque listing cursors: urlsafe base64 of the index position to continue after."""

from __future__ import annotations

import base64
import binascii
import json
import re

from jobs.domain.errors import InvalidCursorError

MAX_CURSOR_CHARS = 1024
_URLSAFE = re.compile(r"^[A-Za-z0-9_-]+$")
# An index RowKey: 16-digit inverted timestamp, "_", then a job id that is a valid table key.
_ROW_KEY = re.compile(r"^\d{16}_[^/\\#?\x00-\x1f\x7f-\x9f]{1,128}$")
_VERSION = 1


def encode_cursor(after_row_key: str) -> str:
    payload = json.dumps({"v": _VERSION, "after": after_row_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The index RowKey to continue after; InvalidCursorError for anything this module did not produce."""
    if not cursor or len(cursor) > MAX_CURSOR_CHARS or not _URLSAFE.match(cursor):
        raise InvalidCursorError("cursor is not a value returned by a previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError("cursor is not a value returned by a previous page") from exc
    if (
        not isinstance(data, dict)
        or set(data) != {"v", "after"}
        or type(data["v"]) is not int
        or data["v"] != _VERSION
        or not isinstance(data["after"], str)
        or not _ROW_KEY.match(data["after"])
    ):
        raise InvalidCursorError("cursor is not a value returned by a previous page")
    return data["after"]
