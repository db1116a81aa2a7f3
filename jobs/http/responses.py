"""HTTP answers every function of the app shares: RFC 9457 problem details and JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import azure.functions as func

PROBLEM_CONTENT_TYPE = "application/problem+json"
JSON_CONTENT_TYPE = "application/json"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _title_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _dumps(body: Any) -> str:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    # Text that cannot be UTF-8 (a lone surrogate in an old row, or echoed back in a field name) is
    # shown as U+FFFD rather than failing the whole answer.
    return _LONE_SURROGATE.sub("\ufffd", text)


def problem(
    status: int,
    *,
    title: str | None = None,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    type_: str = "about:blank",
) -> func.HttpResponse:
    """An RFC 9457 problem details answer; `title` defaults to the status phrase."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _title_for(status),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return func.HttpResponse(
        _dumps(body),
        status_code=status,
        headers=dict(headers or {}),
        mimetype=PROBLEM_CONTENT_TYPE,
        charset="utf-8",
    )


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        _dumps(body),
        status_code=status,
        headers=dict(headers or {}),
        mimetype=JSON_CONTENT_TYPE,
        charset="utf-8",
    )
