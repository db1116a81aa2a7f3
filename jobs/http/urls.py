"""Absolute URLs of the API: the client's scheme and host, host.json's route prefix, the job's path."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, urlsplit

import azure.functions as func

HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"


def route_prefix(host_json: Path = HOST_JSON) -> str:
    """`extensions.http.routePrefix` of host.json without slashes ("api" when it is not set)."""
    document = json.loads(host_json.read_text(encoding="utf-8"))
    return str(document.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")


# host.json ships with the app and the host reads it once at start-up; so does this module.
ROUTE_PREFIX = route_prefix()


def _first(value: str | None) -> str | None:
    """The first entry of a comma-separated header (the proxy closest to the client writes it)."""
    if not value:
        return None
    first = value.split(",", 1)[0].strip()
    return first or None


def base_url(req: func.HttpRequest, *, trust_forwarded: bool) -> str:
    """The absolute scheme://host[:port] the client used to reach the app.

    `trust_forwarded` (setting TRUST_FORWARDED_HEADERS) believes X-Forwarded-Proto/-Host: on Azure the
    Functions front end (or Front Door / API Management) terminates TLS and forwards plain HTTP.
    """
    parts = urlsplit(req.url)
    scheme = parts.scheme or "http"
    host = req.headers.get("host") or parts.netloc
    if trust_forwarded:
        forwarded_proto = _first(req.headers.get("x-forwarded-proto"))
        if forwarded_proto and forwarded_proto.lower() in ("http", "https"):
            scheme = forwarded_proto.lower()
        host = _first(req.headers.get("x-forwarded-host")) or host
    return f"{scheme}://{host}"


def status_url(base: str, job_id: str, *, prefix: str = ROUTE_PREFIX) -> str:
    """The absolute status URL of a job."""
    root = f"{base.rstrip('/')}/{prefix}" if prefix else base.rstrip("/")
    return f"{root}/generations/{quote(job_id, safe='')}"
