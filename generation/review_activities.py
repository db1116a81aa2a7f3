"""The review gate's activities: hold a finished job's outputs for a person, then act on the decision.

`request_review` decides whether the outputs wait (REVIEW_MODE, REVIEW_TERMS and the provider's
moderation) and writes the pending review on the row; `settle_review` carries out what a reviewer (or
the timeout) decided: an approval lets the orchestrator finish the job as usual, a rejection fails it
and removes its outputs. Both are idempotent, so the orchestrator may retry them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from generation.providers import ready_provider
from generation.providers.base import ProviderError
from jobs.contracts import REVIEW_REJECTED, REVIEW_TIMEOUT, ReviewCheck, SettleResult
from jobs.domain.errors import InvalidTransitionError, JobNotFoundError
from jobs.domain.models import (
    Job,
    JobError,
    JobKind,
    JobStatus,
    apply_hold,
    apply_pass,
    apply_rejection,
    apply_review_expiry,
    utcnow,
)
from jobs.domain.review import Review, ReviewMode, ReviewState, hold_reason, matching_term, rejection_message
from jobs.services import Services
from jobs.tables.conversations import conversation_partition, conversation_scope

logger = logging.getLogger(__name__)


def _check(review: Review) -> ReviewCheck:
    """Held until the review's expiry; a review already decided (an orchestration started again) ends
    the wait at once, and the decision on the row is carried out."""
    ends = review.decided_at if review.decided_at is not None else review.expires_at
    return {"held": True, "expires_at": ends.isoformat()}


async def _provider_flags(services: Services, job: Job) -> list[str]:
    """Verdicts that came with the outputs (Azure's annotations), else the moderation endpoint's on
    the text answers, or on the prompt of an image job. Moderation that cannot be reached holds the
    job: a person decides rather than nobody."""
    flags = [output.flag for output in job.outputs if output.flag]
    if flags:
        return flags
    texts = [o.text for o in job.outputs if o.text] if job.kind is JobKind.TEXT else [job.prompt]
    provider = await ready_provider(services)
    try:
        verdicts = [await provider.moderate(text=text) for text in texts]
    except ProviderError as exc:
        logger.warning("job %s: moderation unavailable (%s); held for review", job.id, exc.code)
        return [f"moderation unavailable ({exc.code})"]
    return [verdict for verdict in verdicts if verdict]


async def _reason(services: Services, job: Job) -> str | None:
    settings = services.settings
    mode = ReviewMode(settings.review_mode)
    if mode is ReviewMode.OFF:
        return None
    texts = [job.prompt, *(output.text for output in job.outputs if output.text)]
    term = matching_term(texts, settings.review_terms)
    # Every job waits in `all` mode: no moderation call is needed to decide that.
    flags = await _provider_flags(services, job) if mode is ReviewMode.FLAGGED and term is None else []
    return hold_reason(mode, flags=flags, term=term)


async def request_review(services: Services, job_id: str) -> ReviewCheck:
    """Hold the job's outputs when they need a person; `held: False` lets the job finish now."""
    job = await services.jobs.find(job_id)
    if job is None:
        await services.deletions.record(job_id)
        return {"held": False}
    if job.review is not None:  # a retried activity, or an orchestration started again
        return _check(job.review)
    if job.cancel_requested:
        return {"held": False, "canceled": True}  # the cancel event is on its way; stop as it would
    if job.status is not JobStatus.RUNNING or not job.gated:
        return {"held": False}
    reason = await _reason(services, job)
    if reason is None:
        await services.jobs.change(job_id, apply_pass)
        return {"held": False}
    return await _hold(services, job_id, reason)


async def _hold(services: Services, job_id: str, reason: str) -> ReviewCheck:
    now = utcnow()
    review = Review(state=ReviewState.PENDING, reason=reason, requested_at=now,
                    expires_at=now + timedelta(seconds=services.settings.review_timeout_seconds))
    try:
        held = await services.jobs.change(job_id, lambda row: apply_hold(row, review))
    except JobNotFoundError:
        await services.deletions.record(job_id)
        return {"held": False}
    if held.review is None:
        return {"held": False}  # a cancel came first
    logger.info("job %s: held for review until %s (%s)", job_id, held.review.expires_at, held.review.reason)
    return _check(held.review)


async def settle_review(services: Services, job_id: str, *, timed_out: bool) -> SettleResult:
    """Act on the row's decision; after a timeout a review still pending is rejected first."""
    try:
        job = await (services.jobs.change(job_id, apply_review_expiry) if timed_out
                     else services.jobs.get(job_id))
    except JobNotFoundError:
        await services.deletions.record(job_id)
        return {"decision": "gone"}
    review = job.review
    if review is None or review.pending:
        return {"decision": "pending"}
    if review.state is ReviewState.APPROVED:
        logger.info("job %s: review approved", job_id)
        return {"decision": "approve"}
    return await _reject(services, job, review)


async def _reject(services: Services, job: Job, review: Review) -> SettleResult:
    """Fail the job without its outputs, then remove what it stored (row first: a retry repeats the
    removals, and nobody is sent to a blob the row no longer names)."""
    error = JobError(REVIEW_TIMEOUT if review.timed_out else REVIEW_REJECTED, rejection_message(review))
    notify = True
    try:
        await services.jobs.change(job.id, lambda row: apply_rejection(row, error))
    except InvalidTransitionError as exc:
        # An earlier attempt failed it (tell the channel again only if that attempt may not have),
        # or a cancel or DELETE ended it first.
        notify = exc.current is JobStatus.FAILED and job.error is not None and job.error.code == error.code
    except JobNotFoundError:
        await services.deletions.record(job.id)
        notify = False
    await services.outputs.delete_job(job.id)
    if job.conversation_id is not None:
        # The user never sees this answer, so later questions must not build on it.
        partition = conversation_partition(conversation_scope(job.channel, job.user), job.conversation_id)
        await services.conversations.remove_turn(partition, job.id)
    logger.info("job %s: outputs withheld after review (%s)", job.id, error.code)
    return {"decision": "reject", "notify": notify}
