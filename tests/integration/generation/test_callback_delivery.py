"""The `send_callback` activity on real Azurite, posting to a real loopback receiver that verifies
every request with the Standard Webhooks reference verifier."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from generation.callbacks.delivery import send_callback
from jobs.config.settings import load_settings
from jobs.contracts import CallbackAttempt
from jobs.domain.callbacks import Callback, CallbackState
from jobs.domain.models import JobStatus, Output
from jobs.services import Services, build_services
from testing.factories import make_job
from testing.fakes.webhook_receiver import OTHER_SECRET, TEST_SECRET, WebhookReceiver

BASE = "https://gen.example.com"


@pytest.fixture
async def svc(azurite_connection_string: str) -> AsyncIterator[Services]:
    settings = load_settings({
        "GENERATION_STORAGE": azurite_connection_string,
        "JOBS_QUEUE_KIND": "storage",
        "CALLBACK_SIGNING_SECRET": TEST_SECRET,
        "CALLBACK_ALLOW_LOOPBACK_HTTP": "true",
    })
    async with build_services(settings) as services:
        yield services


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


async def _finished_job(svc: Services, url: str) -> str:
    job = await svc.jobs.create(make_job(callback=Callback(url=url, base_url=BASE)))
    await svc.jobs.mark_running(job.id)
    text = Output(index=0, content_type="image/png", blob_name=f"{job.id}/0.png", width=8, height=8)
    await svc.jobs.finish(job.id, status=JobStatus.SUCCEEDED, outputs=[text])
    return job.id


def _attempt(job_id: str, attempt: int = 1, *, last: bool = False) -> CallbackAttempt:
    return {"job_id": job_id, "attempt": attempt, "last": last}


async def test_the_job_resource_is_posted_signed_and_the_delivery_recorded(
    svc: Services, receiver: WebhookReceiver
) -> None:
    job_id = await _finished_job(svc, receiver.url)
    assert await send_callback(svc, _attempt(job_id)) == {"outcome": "delivered", "status": 204}
    [got] = receiver.received
    assert got.verified
    assert got.headers["webhook-id"] == f"msg_{job_id}"
    body = got.json()
    assert (body["id"], body["status"]) == (job_id, "succeeded")
    assert body["outputs"][0]["url"] == f"{BASE}/api/generations/{job_id}/outputs/0"
    job = await svc.jobs.get(job_id)
    assert job.callback is not None
    assert job.callback.public() == {"state": "delivered", "attempts": 1, "last_status": 204}
    # A repeated attempt (the activity re-run after a crash) sends nothing more.
    assert await send_callback(svc, _attempt(job_id)) == {"outcome": "delivered", "status": 204}
    assert len(receiver.received) == 1


async def test_a_server_error_asks_for_a_retry_until_the_last_attempt(
    svc: Services, receiver: WebhookReceiver
) -> None:
    receiver.script = [500, 503]
    job_id = await _finished_job(svc, receiver.url)
    assert await send_callback(svc, _attempt(job_id, 1)) == {"outcome": "retry", "status": 500}
    assert await send_callback(svc, _attempt(job_id, 2, last=True)) == {"outcome": "failed", "status": 503}
    job = await svc.jobs.get(job_id)
    assert job.callback is not None
    assert job.callback.public() == {"state": "failed", "attempts": 2, "last_status": 503}
    assert {got.headers["webhook-id"] for got in receiver.received} == {f"msg_{job_id}"}


async def test_a_receiver_with_another_secret_rejects_the_callback(svc: Services) -> None:
    with WebhookReceiver(secret=OTHER_SECRET) as stranger:
        job_id = await _finished_job(svc, stranger.url)
        assert await send_callback(svc, _attempt(job_id)) == {"outcome": "retry", "status": 401}
    assert [got.verified for got in stranger.received] == [False]


async def test_a_deleted_job_or_a_dropped_callback_sends_nothing(
    svc: Services, receiver: WebhookReceiver
) -> None:
    deleted = await _finished_job(svc, receiver.url)
    await svc.jobs.delete(deleted)
    assert await send_callback(svc, _attempt(deleted)) == {"outcome": "gone", "status": None}
    dropped = await _finished_job(svc, receiver.url)
    job = await svc.jobs.record_callback(dropped, lambda callback: callback.dropped())
    assert job.callback is not None and job.callback.state is CallbackState.DROPPED
    assert await send_callback(svc, _attempt(dropped)) == {"outcome": "gone", "status": None}
    assert receiver.received == []


async def test_an_address_refused_at_delivery_fails_at_once(svc: Services) -> None:
    job_id = await _finished_job(svc, "https://10.0.0.7/hook")
    assert await send_callback(svc, _attempt(job_id)) == {"outcome": "failed", "status": None}
    job = await svc.jobs.get(job_id)
    assert job.callback is not None
    assert job.callback.public() == {"state": "failed", "attempts": 1, "last_status": None}
