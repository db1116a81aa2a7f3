"""The web page's functions: `GET /api/ui` (the page) and `GET /api/ui/{asset}` (its scripts and styles).

Both are anonymous: the page holds no data. Its calls to the API carry the function key the person
pastes, exactly as any other client's would.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from web.assets import PAGE, SECURITY_HEADERS, load_asset

bp = df.Blueprint()


def _serve(name: str) -> func.HttpResponse:
    asset = load_asset(name)
    if asset is None:
        return func.HttpResponse(
            "Not found", status_code=404, mimetype="text/plain", charset="utf-8",
            headers={"Cache-Control": "no-cache"})
    return func.HttpResponse(
        asset.body, status_code=200, headers={**SECURITY_HEADERS, "Content-Type": asset.content_type})


@bp.function_name("web_page")
@bp.route(route="ui", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def web_page(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(PAGE)


@bp.function_name("web_asset")
@bp.route(route="ui/{asset}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def web_asset(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req.route_params.get("asset", ""))
