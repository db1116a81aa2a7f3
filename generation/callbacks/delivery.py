"""The `send_callback` activity: one signed POST of the job resource, its outcome written to the row."""

from __future__ import annotations

import json
import logging
import time

from generation.callbacks.sender import CallbackSender, SendResult
from generation.callbacks.signing import webhook_headers
from jobs.contracts import CallbackAnswer, CallbackAttempt, CallbackOutcome, webhook_message_id
from jobs.domain.callbacks import CallbackState
from jobs.domain.errors import JobNotFoundError
from jobs.domain.models import Job
from jobs.http import job_resource
from jobs.services import Services

logger = logging.getLogger(__name__)


def callback_sender(services: Services) -> CallbackSender:
    """The process's callback client (a services component, closed with them)."""
    sender = CallbackSender(allow_loopback_http=services.settings.callback_allow_loopback_http)
    services.on_close(sender.close)
    return sender


def callback_body(job: Job) -> bytes:
    """The job resource as the receiver gets it, with status URLs on the base the job was submitted to."""
    assert job.callback is not None
    resource = job_resource(job, base_url=job.callback.base_url)
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_FINISHED: dict[CallbackState, CallbackOutcome] = {
    CallbackState.DELIVERED: "delivered", CallbackState.FAILED: "failed"
}
_OUTCOME_OF: dict[CallbackState, CallbackOutcome] = {**_FINISHED, CallbackState.PENDING: "retry"}


def _state_after(result: SendResult, *, last: bool) -> CallbackState:
    if result.delivered:
        return CallbackState.DELIVERED
    # A refused address is the receiver's setup, not a blip: retrying would be refused again.
    return CallbackState.FAILED if last or result.refused else CallbackState.PENDING


async def send_callback(services: Services, payload: CallbackAttempt) -> CallbackAnswer:
    """POST the finished job to its callback URL, signed; record the attempt on the row."""
    job_id = payload["job_id"]
    job = await services.jobs.find(job_id)
    if job is None or job.callback is None:
        logger.info("job %s: callback gone (job deleted); nothing sent", job_id)
        return {"outcome": "gone", "status": None}
    if job.callback.state is not CallbackState.PENDING:
        # Delivered or failed: this attempt ran before and was recorded. Dropped: being deleted.
        logger.info("job %s: callback %s; nothing sent", job_id, job.callback.state.value)
        return {"outcome": _FINISHED.get(job.callback.state, "gone"), "status": job.callback.last_status}
    secret = services.settings.callback_signing_secret
    if secret is None:
        result = SendResult(status=None, problem="CALLBACK_SIGNING_SECRET is not set", refused=True)
    else:
        body = callback_body(job)
        headers = webhook_headers(
            secret, message_id=webhook_message_id(job_id), timestamp=int(time.time()), body=body
        )
        result = await services.component(callback_sender).post(job.callback.url, body=body, headers=headers)
    state = _state_after(result, last=payload["last"])
    logger.info("job %s: callback attempt %d: %s (%s)", job_id, payload["attempt"],
                result.status or result.problem, state.value)
    try:
        await services.jobs.record_callback(
            job_id, lambda callback: callback.attempted(state=state, last_status=result.status)
        )
    except JobNotFoundError:
        return {"outcome": "gone", "status": result.status}
    return {"outcome": _OUTCOME_OF[state], "status": result.status}
