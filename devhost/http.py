"""HTTP triggers: route matching, auth levels, `func.HttpRequest` in and `func.HttpResponse` out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from devhost.auth import Keys, presented_key
from devhost.functions import FunctionSpec
from devhost.invoker import Invoker
from devhost.problems import problem, unauthorized
from devhost.routes import RouteTemplate, ordered

logger = logging.getLogger(__name__)

# Bindings an HTTP function may carry besides its trigger; anything else devhost cannot provide.
SUPPORTED_SIDE_BINDINGS = {"http", "durableClient"}
MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's request size limit
# Set by aiohttp from the body devhost sends, so a function's own value would conflict.
_TRANSPORT_HEADERS = {"content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP-triggered function with its compiled route."""

    spec: FunctionSpec
    template: RouteTemplate
    methods: frozenset[str] | None
    auth_level: str

    @classmethod
    def from_spec(cls, spec: FunctionSpec) -> HttpFunction:
        """Raises ValueError (RouteError included) when devhost cannot serve the function."""
        extra = [b["type"] for b in spec.bindings
                 if b is not spec.trigger and b["type"] not in SUPPORTED_SIDE_BINDINGS]
        if extra:
            raise ValueError(f"bindings not supported by devhost: {', '.join(map(str, extra))}")
        methods = spec.trigger.get("methods")
        return cls(
            spec=spec,
            template=RouteTemplate(str(spec.trigger.get("route") or spec.name)),
            methods=frozenset(str(m).upper() for m in methods) if methods else None,
            auth_level=str(spec.trigger.get("authLevel", "function")).lower(),
        )

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods

    def describe(self, base_url: str, prefix: str) -> str:
        methods = ",".join(sorted(self.methods)) if self.methods else "ALL"
        path = "/".join(part for part in (prefix, self.template.template) if part)
        return f"[{methods}] {base_url}/{path}"


def _joined(values: Any, name: str, separator: str) -> str:
    return separator.join(values.getall(name))


def to_function_request(request: web.Request, body: bytes, route_params: dict[str, str]) -> func.HttpRequest:
    """The request as the worker hands it over; repeated headers and query keys are joined, as by the host."""
    headers = {name: _joined(request.headers, name, ", ") for name in request.headers}
    params = {name: _joined(request.query, name, ",") for name in request.query}
    return func.HttpRequest(
        method=request.method, url=str(request.url), headers=headers, params=params,
        route_params=route_params, body=body,
    )


def to_web_response(result: Any, *, function_name: str) -> web.Response:
    """Map a function's return value to the response the host would send."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(status=200, body=result.encode(), content_type="text/plain", charset="utf-8")
    if not isinstance(result, func.HttpResponse):
        logger.error("'%s' returned %s; an HTTP function returns func.HttpResponse or str",
                     function_name, type(result).__name__)
        return internal_error()
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in result.headers.items():
        if name.lower() not in _TRANSPORT_HEADERS:
            headers.add(name, value)
    if "content-type" not in headers:
        mimetype = str(result.mimetype)
        text = mimetype.startswith("text/")
        headers["Content-Type"] = f"{mimetype}; charset={result.charset}" if text else mimetype
    return web.Response(status=int(result.status_code), body=result.get_body(), headers=headers)


def internal_error() -> web.Response:
    return problem(500, "The function failed; the host log has the details.")


def _no_route(path: str) -> web.Response:
    return problem(404, f"No function answers '/{path}'.")


class HttpRouter:
    """Dispatches every request under the route prefix to the HTTP function whose route matches."""

    def __init__(self, functions: Sequence[HttpFunction], *, prefix: str, keys: Keys,
                 invoker: Invoker) -> None:
        self._routes = ordered([(f.template, f) for f in functions])
        self._prefix = prefix.strip("/").lower()
        self._keys = keys
        self._invoke = invoker

    def _relative(self, raw_path: str) -> str | None:
        path = raw_path.lstrip("/")
        if not self._prefix:
            return path
        head, _, rest = path.partition("/")
        return rest if head.lower() == self._prefix else None

    def _select(self, path: str, method: str) -> tuple[HttpFunction, dict[str, str]] | web.Response:
        matched = [(function, params) for template, function in self._routes
                   if (params := template.match(path)) is not None]
        if not matched:
            return _no_route(path)
        for function, params in matched:
            if function.allows(method):
                return function, params
        allowed = sorted({m for f, _ in matched for m in (f.methods or ())})
        return problem(405, f"'/{path}' does not take {method}; it takes {', '.join(allowed)}.",
                       headers={"Allow": ", ".join(allowed)})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = self._relative(request.rel_url.raw_path)
        if path is None:
            return _no_route(request.rel_url.raw_path.lstrip("/"))
        selected = self._select(path, request.method)
        if isinstance(selected, web.Response):
            return selected
        function, params = selected
        if not self._keys.allows(function.auth_level, presented_key(request)):
            logger.info("401 for '%s': missing or wrong key (auth level %s)",
                        function.spec.name, function.auth_level)
            return unauthorized()
        if (request.content_length or 0) > MAX_BODY_BYTES:
            # Refused on the declared length, as the host does, before a byte of the body is read.
            refused = problem(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
            refused.force_close()  # the unread body must not be taken for the next request
            return refused
        body = await request.read()
        argument = to_function_request(request, body, params)
        try:
            result = await self._invoke(
                function.spec, {str(function.spec.trigger["name"]): argument},
                traceparent=request.headers.get("traceparent"),
            )
        except Exception:
            # `invoke` has logged the stack trace; the caller learns nothing about the inside.
            return internal_error()
        return to_web_response(result, function_name=function.spec.name)
