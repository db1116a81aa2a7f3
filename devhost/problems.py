"""RFC 9457 problem bodies for every answer devhost makes itself, down to HTTP parse errors.

The app's own responses pass through untouched; only devhost's answers (no such route, method not
allowed, body or URL too large, unreadable request, unhandled error) are shaped here, so that a client
reads every error the same way. A missing key stays an empty 401, as on Azure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
_PARSE_DETAILS = {
    414: "The request URL is longer than this host accepts.",
    431: "A request header is longer than this host accepts.",
    400: "The request is not valid HTTP (bad header name or value bytes, or a malformed request line).",
    500: "The host failed to answer the request; its log has the details.",
    504: "The request took longer than this host waits.",
}


def problem(status: int, detail: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    """A problem+json answer with the status phrase as title."""
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=headers,
                        content_type=PROBLEM_CONTENT_TYPE)


def unauthorized() -> web.Response:
    """A missing or wrong key: an empty 401, exactly as the Functions host answers it (clients written
    against Azure, such as genclient and the web page, tell it apart by that)."""
    return web.Response(status=401)


def _parse_error_status(status: int, exc: BaseException | None) -> int:
    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        # The parser names what overflowed only by its first bytes: a request target starts with "/".
        target = isinstance(line, bytes | bytearray) and line[:1] == b"/"
        return 414 if target else 431
    if isinstance(exc, BadHttpMessage):
        return 400
    return status if status in _PARSE_DETAILS else 500


class _ProblemRequestHandler(RequestHandler):
    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        # The base class logs the error and refuses when part of a response is already out.
        super().handle_error(request, status, exc, message)
        status = _parse_error_status(status, exc)
        response = problem(status, _PARSE_DETAILS[status])
        response.force_close()
        return response


class _ProblemServer(Server):
    def __call__(self) -> RequestHandler:
        return _ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    """An AppRunner whose connection handler answers parse errors and crashes with problems.

    aiohttp answers those below the application (no middleware sees them) in plain text; its
    server class is the one seam that reaches them.
    """

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _ProblemServer  # same state, one method more
        return server


@web.middleware
async def problem_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own HTTP errors raised by a handler (413 on an oversize body...) as problems."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {name: value for name, value in exc.headers.items() if name.lower() == "allow"}
        return problem(exc.status, exc.text or exc.reason, headers=headers)
    return response
