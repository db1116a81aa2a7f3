"""The page's files: what is served, with which headers, and that nothing outside `static/` is."""

from __future__ import annotations

import re

import azure.functions as func
import pytest

from web.assets import STATIC_DIR
from web.blueprint import web_asset, web_page


def request(asset: str | None = None) -> func.HttpRequest:
    route = "ui" if asset is None else f"ui/{asset}"
    params = {} if asset is None else {"asset": asset}
    return func.HttpRequest("GET", f"http://h/api/{route}", body=b"", route_params=params)


def call(function: object, req: func.HttpRequest) -> func.HttpResponse:
    user_code = function.build().get_user_function()  # type: ignore[attr-defined]
    response: func.HttpResponse = user_code(req)
    return response


def test_the_page_is_html_with_a_strict_policy() -> None:
    response = call(web_page, request())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<title>Generate</title>" in response.get_body()


@pytest.mark.parametrize(("name", "content_type"), [
    ("app.js", "text/javascript; charset=utf-8"),
    ("api.js", "text/javascript; charset=utf-8"),
    ("jobcard.js", "text/javascript; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
])
def test_assets_are_served_with_their_type(name: str, content_type: str) -> None:
    response = call(web_asset, request(name))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.get_body() == (STATIC_DIR / name).read_bytes()


@pytest.mark.parametrize("name", [
    "missing.js", "../blueprint.py", "..", "%2e%2e%2fassets.py", "APP.JS", ".hidden.js", "app.py",
    "sub/app.js", "",
])
def test_anything_else_is_404(name: str) -> None:
    response = call(web_asset, request(name))
    assert response.status_code == 404
    assert b"import" not in response.get_body()


def test_every_file_the_page_names_is_served() -> None:
    """The page and its modules name files by URL; each must be one the asset route serves."""
    named = set(re.findall(r'/api/ui/([\w.-]+)"', (STATIC_DIR / "index.html").read_text()))
    for script in STATIC_DIR.glob("*.js"):
        named |= set(re.findall(r'from "\./([\w.-]+)"', script.read_text()))
    assert {"app.js", "style.css", "api.js", "jobcard.js"} <= named
    for name in named:
        assert call(web_asset, request(name)).status_code == 200, name
