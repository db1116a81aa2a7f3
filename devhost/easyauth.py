"""A stand-in for App Service Authentication (Easy Auth), for local runs and tests only.

With `DEVHOST_EASY_AUTH=true` devhost plays the platform's part: it tells the app that Easy Auth is on
(`WEBSITE_AUTH_ENABLED=True`, as App Service does) and answers `GET /.auth/me` for the caller. The
caller is whoever the request's `X-MS-CLIENT-PRINCIPAL-*` headers say: on Azure the platform writes
those headers after a real sign-in and strips them from outside requests; here the client (a test, a
browser with extra headers) writes them itself. So the setting is for local runs only, never on Azure.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from aiohttp import web

SETTING = "DEVHOST_EASY_AUTH"
PLATFORM_SETTING = "WEBSITE_AUTH_ENABLED"
ID_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
NAME_HEADER = "X-MS-CLIENT-PRINCIPAL-NAME"
IDP_HEADER = "X-MS-CLIENT-PRINCIPAL-IDP"
OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def enabled(environ: MutableMapping[str, str] | None = None) -> bool:
    source = os.environ if environ is None else environ
    return source.get(SETTING, "").strip().lower() in ("true", "1")


def stand_in(environ: MutableMapping[str, str] | None = None) -> bool:
    """Tell the app that Easy Auth is on when the setting asks for it; returns whether it did."""
    target = os.environ if environ is None else environ
    if not enabled(target):
        return False
    target[PLATFORM_SETTING] = "True"
    return True


async def me(request: web.Request) -> web.Response:
    """`/.auth/me` as Easy Auth answers it: the signed-in caller's identities, 401 when there is none."""
    principal_id = request.headers.get(ID_HEADER)
    if not principal_id:
        return web.json_response({"error": "not signed in"}, status=401)
    name = request.headers.get(NAME_HEADER) or principal_id
    identity = {
        "provider_name": request.headers.get(IDP_HEADER) or "aad",
        "user_id": name,
        "user_claims": [{"typ": OBJECT_ID_CLAIM, "val": principal_id}, {"typ": "name", "val": name}],
    }
    return web.json_response([identity], headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/.auth/me", me)
