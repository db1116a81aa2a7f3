"""devhost's stand-in for Easy Auth: off unless asked for, and then it tells the app and serves /.auth/me."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devhost import easyauth


def test_stand_in_only_when_the_setting_asks() -> None:
    environ: dict[str, str] = {}
    assert easyauth.stand_in(environ) is False
    assert "WEBSITE_AUTH_ENABLED" not in environ
    environ["DEVHOST_EASY_AUTH"] = "true"
    assert easyauth.stand_in(environ) is True
    assert environ["WEBSITE_AUTH_ENABLED"] == "True"


async def test_auth_me_answers_for_the_caller_of_the_request() -> None:
    app = web.Application()
    easyauth.add_routes(app)
    async with TestClient(TestServer(app)) as client:
        anonymous = await client.get("/.auth/me")
        assert anonymous.status == 401
        signed_in = await client.get("/.auth/me", headers={
            "X-MS-CLIENT-PRINCIPAL-ID": "p-1", "X-MS-CLIENT-PRINCIPAL-NAME": "alice@example.com"})
        assert signed_in.status == 200
        (identity,) = await signed_in.json()
        assert identity["user_id"] == "alice@example.com"
        assert identity["provider_name"] == "aad"
        assert {"typ": easyauth.OBJECT_ID_CLAIM, "val": "p-1"} in identity["user_claims"]
