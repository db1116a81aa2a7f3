"""The admin API: `GET /admin/host/status` and portal-style `POST /admin/functions/{name}`."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiohttp import web

from devhost.auth import Keys, presented_key
from devhost.invoker import Invoker
from devhost.problems import problem, unauthorized

logger = logging.getLogger(__name__)

# Runs a non-HTTP function once with the `input` text of the admin request.
AdminCall = Callable[[str], Coroutine[Any, Any, None]]


class AdminApi:
    """`calls`: functions the admin API can run; `refusals`: known functions it cannot, with why."""

    def __init__(self, *, calls: Mapping[str, AdminCall], refusals: Mapping[str, str], keys: Keys,
                 invoker: Invoker) -> None:
        self._calls = {name.lower(): (name, call) for name, call in calls.items()}
        self._refusals = {name.lower(): reason for name, reason in refusals.items()}
        self._keys = keys
        self._invoker = invoker
        self.running = False  # set once every listener has started: the readiness probe waits for it

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/admin/host/status", self.status)
        app.router.add_post("/admin/functions/{name}", self.invoke)

    async def status(self, request: web.Request) -> web.Response:
        # Open without a key: it is the readiness probe and reveals nothing about the app.
        state = "Running" if self.running else "Initializing"
        return web.json_response({"state": state, "processId": os.getpid(), "host": "devhost"},
                                 status=200 if self.running else 503)

    async def invoke(self, request: web.Request) -> web.Response:
        if not self._keys.allows("admin", presented_key(request)):
            return unauthorized()
        name = request.match_info["name"].lower()
        if name in self._refusals:
            return problem(400, self._refusals[name])
        if name not in self._calls:
            return problem(404, f"no function named {request.match_info['name']!r}")
        try:
            document = json.loads(await request.read() or b"{}")
        except ValueError:
            return problem(400, "the body must be a JSON object such as {\"input\": \"...\"}")
        text = document.get("input", "") if isinstance(document, dict) else None
        if not isinstance(text, str):
            return problem(400, "the body must be a JSON object whose `input` is a string")
        function_name, call = self._calls[name]
        logger.info("admin invocation of '%s'", function_name)
        self._invoker.spawn(call(text), name=f"{function_name}:admin")
        return web.Response(status=202)
