"""The `deliver_line` activity: builds the delivery from the services' stores and LINE client."""

from __future__ import annotations

from datetime import datetime, timedelta

from jobs import telemetry
from jobs.contracts import DeliveryResult, JobRef, WaitingNoticeRequest
from jobs.services import Services
from line_webhook.client import line_api
from line_webhook.delivery import LineDelivery
from line_webhook.settings import line_settings
from line_webhook.waiting_notice import notify_waiting


def line_delivery(services: Services) -> LineDelivery:
    """The delivery made of `services`' stores and LINE client."""
    line = line_settings(services.settings)
    return LineDelivery(
        jobs=services.jobs,
        outputs=services.outputs,
        ledger=services.events,
        api=services.component(line_api),
        reply_token_ttl=timedelta(seconds=line.reply_token_ttl_seconds),
        image_url_ttl=timedelta(hours=line.image_url_ttl_hours),
    )


async def deliver_line(services: Services, payload: JobRef) -> DeliveryResult:
    """Deliver a finished job; raises on a transient LINE failure so the orchestrator retries."""
    job_id = str(payload["job_id"])
    with telemetry.job_span("line.deliver", job_id, {"channel": "line"}):
        result = await services.component(line_delivery).deliver(job_id)
        telemetry.record_delivery(result)
        return result


async def notify_line_waiting(services: Services, payload: WaitingNoticeRequest) -> str:
    """Tell the chat its job waits for provider capacity (see `line_webhook.waiting_notice`); raises on
    a transient LINE failure so the orchestrator retries."""
    job_id = str(payload["job_id"])
    start_at = datetime.fromisoformat(payload["estimated_start_at"].replace("Z", "+00:00"))
    with telemetry.job_span("line.waiting_notice", job_id, {"channel": "line"}):
        return await notify_waiting(services.component(line_delivery), job_id, start_at=start_at)
