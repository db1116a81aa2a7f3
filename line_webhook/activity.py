"""The `deliver_line` activity: builds the delivery from the process's stores and LINE client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jobs.clients import stores
from jobs.config.settings import get_settings
from line_webhook.client import line_api
from line_webhook.delivery import LineDelivery
from line_webhook.settings import line_settings


def current_delivery() -> LineDelivery:
    """The delivery for the running event loop (its stores and LINE client are per loop)."""
    line = line_settings(get_settings())
    bundle = stores()
    return LineDelivery(
        jobs=bundle.jobs,
        outputs=bundle.outputs,
        ledger=bundle.events,
        api=line_api(),
        reply_token_ttl=timedelta(seconds=line.reply_token_ttl_seconds),
        image_url_ttl=timedelta(hours=line.image_url_ttl_hours),
    )


async def deliver_line(payload: dict[str, Any]) -> dict[str, Any]:
    """Input `{"job_id": ...}`; raises on a transient LINE failure so the orchestrator retries."""
    return await current_delivery().deliver(str(payload["job_id"]))
