"""LINE functions: the webhook (anonymous: the signature is the authentication) and `deliver_line`."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import azure.functions as func

from line_webhook import activity, webhook

bp = df.Blueprint()


@bp.function_name("line_webhook")
@bp.route(route="line/webhook", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def line_webhook(req: func.HttpRequest) -> func.HttpResponse:
    return await webhook.respond(req)


@bp.function_name("deliver_line")
@bp.activity_trigger(input_name="payload")
async def deliver_line(payload: dict[str, Any]) -> dict[str, Any]:
    return await activity.deliver_line(payload)
