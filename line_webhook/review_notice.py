"""The `notify_line_review` activity: tell the chat, once, that a person checks the answer first.

It is pushed (never sent by reply) so that the reply token stays for the answer itself, with a retry
key derived from the job id: a retried activity or a restarted orchestration never shows it twice.
"""

from __future__ import annotations

import logging

from linebot.v3.messaging import TextMessage

from jobs.contracts import DeliveryResult, JobRef
from jobs.services import Services
from line_webhook import texts
from line_webhook.calls import PermanentLineError, push
from line_webhook.client import line_api
from line_webhook.retry_keys import review_notice_key

logger = logging.getLogger(__name__)


async def notify_line_review(services: Services, payload: JobRef) -> DeliveryResult:
    """Push the notice; raises TransientLineError so the orchestrator retries."""
    job_id = str(payload["job_id"])
    job = await services.jobs.find(job_id)
    if job is None or job.delivery is None or job.status.is_terminal:
        logger.info("job %s: no review notice (the job ended or has no chat)", job_id)
        return {"job_id": job_id, "status": "skipped", "reason": "no chat to tell"}
    message = TextMessage(text=texts.IN_REVIEW)
    api = services.component(line_api)
    try:
        await push(api, job.delivery.to, [message], retry_key=review_notice_key(job_id))
    except PermanentLineError as exc:
        logger.error("job %s: LINE refused the review notice, not retrying: %s", job_id, exc)
        return {"job_id": job_id, "status": "failed", "reason": str(exc)}
    logger.info("job %s: review notice sent to LINE", job_id)
    return {"job_id": job_id, "status": "delivered", "via": "push", "messages": 1}
