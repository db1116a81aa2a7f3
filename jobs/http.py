"""HTTP helpers every function of the app shares: problem details, JSON answers, absolute URLs."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

import azure.functions as func

PROBLEM_CONTENT_TYPE = "application/problem+json"
JSON_CONTENT_TYPE = "application/json"
TRUST_FORWARDED_SETTING = "TRUST_FORWARDED_HEADERS"
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


def trust_forwarded_headers(environ: Mapping[str, str] | None = None) -> bool:
    """Whether X-Forwarded-Proto/-Host are believed (setting TRUST_FORWARDED_HEADERS, default true).

    On Azure the Functions front end (or Front Door / API Management in front of it) terminates TLS
    and forwards plain HTTP, so without these headers every status URL would be wrong. Set the
    setting to "false" when clients can reach the app without passing through such a proxy.
    """
    value = (environ if environ is not None else os.environ).get(TRUST_FORWARDED_SETTING, "true")
    return value.strip().lower() not in ("false", "0", "no", "off")


def _first(value: str | None) -> str | None:
    """The first entry of a comma-separated header (the proxy closest to the client writes it)."""
    if not value:
        return None
    first = value.split(",", 1)[0].strip()
    return first or None


def base_url(req: func.HttpRequest, *, trust_forwarded: bool | None = None) -> str:
    """The absolute scheme://host[:port] the client used to reach the app."""
    parts = urlsplit(req.url)
    scheme = parts.scheme or "http"
    host = req.headers.get("host") or parts.netloc
    if trust_forwarded is None:
        trust_forwarded = trust_forwarded_headers()
    if trust_forwarded:
        forwarded_proto = _first(req.headers.get("x-forwarded-proto"))
        if forwarded_proto and forwarded_proto.lower() in ("http", "https"):
            scheme = forwarded_proto.lower()
        host = _first(req.headers.get("x-forwarded-host")) or host
    return f"{scheme}://{host}"


def status_url(base: str, job_id: str) -> str:
    """The absolute status URL of a job."""
    return f"{base.rstrip('/')}/api/generations/{quote(job_id, safe='')}"
