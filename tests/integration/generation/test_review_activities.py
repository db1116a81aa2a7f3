"""The review gate's activities and decisions against real stores on Azurite, offline provider
(text containing `[review]` is what its moderation flags)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.storage.blob.aio import ContainerClient

from generation import activities, review_activities
from jobs.blobs.outputs import job_blob_prefix
from jobs.config.settings import load_settings
from jobs.domain.models import JobKind, JobStatus
from jobs.domain.review import Decision, ReviewNotPendingError, ReviewState
from jobs.http import job_resource
from jobs.names import OUTPUTS_CONTAINER
from jobs.services import Services, build_services
from status.reviews_api import ReviewDecision, decide
from testing.factories import make_job


class Events:
    """Records raise_event calls (the orchestration client's part that `decide` uses)."""

    def __init__(self) -> None:
        self.raised: list[tuple[str, str]] = []

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        self.raised.append((instance_id, event_name))

    async def purge_instance_history(self, instance_id: str) -> Any: ...

    async def get_status(self, instance_id: str) -> Any: ...


@pytest.fixture
async def svc(azurite_connection_string: str) -> AsyncIterator[Services]:
    settings = load_settings({
        "GENERATION_STORAGE": azurite_connection_string, "GENERATION_PROVIDER": "offline",
        "JOBS_QUEUE_KIND": "storage", "REVIEW_MODE": "flagged", "REVIEW_TERMS": "Lighthouse, harbour",
        "REVIEW_TIMEOUT_SECONDS": "120",
    })
    async with build_services(settings) as services:
        yield services


async def _generated(svc: Services, **fields: Any) -> str:
    """A gated job whose outputs are all made (the orchestrator's next step is the review gate)."""
    job = await svc.jobs.create(make_job(**fields))
    start = await activities.mark_job_running(svc, job.id)
    assert start["review"] is True
    for index in range(job.total):
        assert (await activities.generate_output(svc, job.id, index))["job_finished"] is False
    return job.id


async def _blobs(svc: Services, job_id: str) -> list[str]:
    async with ContainerClient.from_connection_string(
            svc.settings.storage.connection_string or "", OUTPUTS_CONTAINER) as container:
        return [blob.name async for blob in container.list_blobs(name_starts_with=job_blob_prefix(job_id))]


async def test_a_flagged_answer_is_held_with_its_outputs_withheld(svc: Services) -> None:
    job_id = await _generated(svc, kind=JobKind.TEXT, prompt="tell me a secret [review]")
    check = await review_activities.request_review(svc, job_id)
    again = await review_activities.request_review(svc, job_id)
    assert check["held"] is True and again == check, "a retried request keeps the first review"
    job = await svc.jobs.get(job_id)
    assert job.status is JobStatus.RUNNING and job.review is not None
    assert job.review.reason == "offline moderation flagged the marker [review]"
    shown = job_resource(job, base_url="http://h")
    assert shown["outputs"] == [] and shown["review"]["state"] == "pending"


async def test_an_unflagged_job_passes_and_finishes_as_usual(svc: Services) -> None:
    job_id = await _generated(svc, kind=JobKind.TEXT, prompt="a calm question")
    assert await review_activities.request_review(svc, job_id) == {"held": False}
    assert (await activities.finalize_job(svc, job_id, "completed", {}))["status"] == "succeeded"
    job = await svc.jobs.get(job_id)
    assert job.review is None and len(job_resource(job, base_url="http://h")["outputs"]) == 1


async def test_a_term_holds_an_image_and_a_rejection_removes_its_outputs(svc: Services) -> None:
    job_id = await _generated(svc, prompt="A LIGHTHOUSE at dusk", n=2)
    assert len(await _blobs(svc, job_id)) == 4  # two pictures and their previews
    assert (await review_activities.request_review(svc, job_id))["held"] is True
    events = Events()
    await decide(job_id, ReviewDecision(Decision.REJECT, "not on brand"), jobs=svc.jobs, client=events)
    assert events.raised == [(job_id, "review")]
    settled = await review_activities.settle_review(svc, job_id, timed_out=False)
    assert settled == {"decision": "reject", "notify": True}
    job = await svc.jobs.get(job_id)
    assert job.status is JobStatus.FAILED and job.outputs == ()
    assert job.error is not None and job.error.code == "review_rejected"
    assert "not on brand" in job.error.message
    assert job.review is not None and job.review.state is ReviewState.REJECTED
    assert "lighthouse" in job.review.reason
    assert await _blobs(svc, job_id) == []


async def test_two_decisions_at_once_one_wins_and_a_late_one_is_refused(svc: Services) -> None:
    job_id = await _generated(svc, kind=JobKind.TEXT, prompt="harbour tides")
    assert (await review_activities.request_review(svc, job_id))["held"] is True
    events = Events()
    results = await asyncio.gather(
        decide(job_id, ReviewDecision(Decision.APPROVE, None), jobs=svc.jobs, client=events),
        decide(job_id, ReviewDecision(Decision.REJECT, "no"), jobs=svc.jobs, client=events),
        return_exceptions=True)
    refused = [result for result in results if isinstance(result, ReviewNotPendingError)]
    assert len(refused) == 1 and len(events.raised) == 1
    winner = (await svc.jobs.get(job_id)).review
    assert winner is not None and winner.state in (ReviewState.APPROVED, ReviewState.REJECTED)


async def test_a_timeout_rejects_a_pending_review_but_not_a_decided_one(svc: Services) -> None:
    pending = await _generated(svc, kind=JobKind.TEXT, prompt="harbour lights")
    await review_activities.request_review(svc, pending)
    assert (await review_activities.settle_review(svc, pending, timed_out=True))["decision"] == "reject"
    job = await svc.jobs.get(pending)
    assert job.status is JobStatus.FAILED and job.error is not None and job.error.code == "review_timeout"
    with pytest.raises(ReviewNotPendingError):
        await decide(pending, ReviewDecision(Decision.APPROVE, None), jobs=svc.jobs, client=Events())

    approved = await _generated(svc, kind=JobKind.TEXT, prompt="harbour seals")
    await review_activities.request_review(svc, approved)
    await decide(approved, ReviewDecision(Decision.APPROVE, None), jobs=svc.jobs, client=Events())
    assert await review_activities.settle_review(svc, approved, timed_out=True) == {"decision": "approve"}


async def test_a_cancel_asked_for_before_the_review_ends_the_job_as_canceled(svc: Services) -> None:
    job_id = await _generated(svc, kind=JobKind.TEXT, prompt="harbour cats")
    await svc.jobs.request_cancel(job_id)
    assert await review_activities.request_review(svc, job_id) == {"held": False, "canceled": True}
    assert (await svc.jobs.get(job_id)).review is None
