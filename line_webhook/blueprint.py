"""LINE functions: the webhook (anonymous: the signature is the authentication), `deliver_line`,
`notify_line_waiting` and `notify_line_review`."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from jobs.contracts import (
    DELIVER_LINE,
    NOTIFY_LINE_REVIEW,
    NOTIFY_LINE_WAITING,
    DeliveryResult,
    JobRef,
    WaitingNoticeRequest,
)
from jobs.services import services
from line_webhook import activity, review_notice, webhook

bp = df.Blueprint()


@bp.function_name("line_webhook")
@bp.route(route="line/webhook", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def line_webhook(req: func.HttpRequest) -> func.HttpResponse:
    return await webhook.respond(req, services())


@bp.function_name(DELIVER_LINE)
@bp.activity_trigger(input_name="payload")
async def deliver_line(payload: JobRef) -> DeliveryResult:
    return await activity.deliver_line(services(), payload)


@bp.function_name(NOTIFY_LINE_REVIEW)
@bp.activity_trigger(input_name="payload")
async def notify_line_review(payload: JobRef) -> DeliveryResult:
    return await review_notice.notify_line_review(services(), payload)


@bp.function_name(NOTIFY_LINE_WAITING)
@bp.activity_trigger(input_name="payload")
async def notify_line_waiting(payload: WaitingNoticeRequest) -> str:
    return await activity.notify_line_waiting(services(), payload)
