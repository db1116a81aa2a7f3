"""The pipeline's activities against real stores on Azurite, with the offline provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient
from azure.storage.blob.aio import ContainerClient

from generation import activities
from jobs.blobs.outputs import job_blob_prefix
from jobs.config.settings import load_settings
from jobs.contracts import DEADLINE_EXCEEDED
from jobs.domain.models import CANCELED, Channel, JobError, JobKind, JobStatus, Output
from jobs.names import DELETIONS_TABLE, OUTPUTS_CONTAINER
from jobs.services import Services, build_services
from jobs.tables.deletions import DELETION_ROW_KEY
from testing.factories import make_job

REJECTED = JobError("content_rejected", "The prompt was rejected by the provider's content policy.")
DOWN = JobError("provider_unavailable", "The provider is unavailable.")


@pytest.fixture
async def svc(azurite_connection_string: str) -> AsyncIterator[Services]:
    settings = load_settings({
        "GENERATION_STORAGE": azurite_connection_string,
        "GENERATION_PROVIDER": "offline",
        "OFFLINE_LATENCY_MS": "0",
        "JOBS_QUEUE_KIND": "storage",
    })
    async with build_services(settings) as services:
        yield services


async def _running(bundle: Services, **fields: object) -> str:
    job = await bundle.jobs.create(make_job(**fields))
    await bundle.jobs.mark_running(job.id)
    return job.id


async def _blob_names(services: Services, job_id: str) -> list[str]:
    connection_string = services.settings.storage.connection_string or ""
    async with ContainerClient.from_connection_string(connection_string, OUTPUTS_CONTAINER) as container:
        return [blob.name async for blob in container.list_blobs(name_starts_with=job_blob_prefix(job_id))]


async def _tombstoned(services: Services, job_id: str) -> bool:
    connection_string = services.settings.storage.connection_string or ""
    async with TableClient.from_connection_string(connection_string, DELETIONS_TABLE) as table:
        try:
            await table.get_entity(job_id, DELETION_ROW_KEY)
        except ResourceNotFoundError:
            return False
    return True


async def test_mark_running_tells_the_orchestrator_what_it_needs(svc: Services) -> None:
    job = await svc.jobs.create(make_job(n=3, channel=Channel.LINE, user="line:U1"))
    answer = await activities.mark_job_running(svc, job.id)
    deadline_at = (job.created_at + timedelta(seconds=600)).isoformat()
    assert answer == {"proceed": True, "status": "running", "total": 3, "channel": "line",
                      "deadline_seconds": 600, "deadline_at": deadline_at, "kind": "image",
                      "user": "line:U1"}
    # Marking again (a re-run after a crash, or a re-driven orchestration) goes on with the job.
    assert await activities.mark_job_running(svc, job.id) == answer
    assert (await svc.jobs.get(job.id)).status is JobStatus.RUNNING


async def test_mark_running_refuses_a_canceled_or_missing_job(svc: Services) -> None:
    job = await svc.jobs.create(make_job())
    await svc.jobs.request_cancel(job.id)
    assert await activities.mark_job_running(svc, job.id) == {
        "proceed": False, "status": "canceled", "notify": True, "channel": "api"
    }
    assert await activities.mark_job_running(svc, "no-such-job") == {"proceed": False, "status": "missing"}
    assert await _tombstoned(svc, "no-such-job"), "an orchestration of a deleted job leaves history to purge"


async def test_generate_output_stores_the_image_and_records_progress(svc: Services) -> None:
    job_id = await _running(svc, n=2)
    assert await activities.generate_output(svc, job_id, 1) == {
        "index": 1, "status": "succeeded", "job_finished": False}
    job = await svc.jobs.get(job_id)
    assert (job.status, job.completed) == (JobStatus.RUNNING, 1)
    assert [(o.index, o.blob_name, o.width) for o in job.outputs] == [(1, f"{job_id}/1.png", 1024)]
    assert sorted(await _blob_names(svc, job_id)) == [f"{job_id}/1.png", f"{job_id}/1.preview.jpg"]
    # A redelivered activity finds its output stored and does not make it again.
    assert await activities.generate_output(svc, job_id, 1) == {
        "index": 1, "status": "succeeded", "job_finished": False}


async def test_the_last_output_finishes_the_job_in_the_same_write(svc: Services) -> None:
    job_id = await _running(svc, n=2)
    await activities.generate_output(svc, job_id, 0)
    assert await activities.generate_output(svc, job_id, 1) == {
        "index": 1, "status": "succeeded", "job_finished": True}
    job = await svc.jobs.get(job_id)
    assert (job.status, job.completed, job.error) == (JobStatus.SUCCEEDED, 2, None)
    # Redelivered after that write: still reported as the write that finished the job.
    assert (await activities.generate_output(svc, job_id, 1))["job_finished"] is True


async def test_an_output_made_before_the_job_is_marked_running_does_not_finish_it(svc: Services) -> None:
    job = await svc.jobs.create(make_job(n=1))
    answer = await activities.generate_output(svc, job.id, 0)
    assert answer == {"index": 0, "status": "succeeded", "job_finished": False}
    read = await svc.jobs.get(job.id)
    assert (read.status, read.completed) == (JobStatus.QUEUED, 1)
    # Marking it running afterwards keeps the output; finalize then settles it.
    assert (await activities.mark_job_running(svc, job.id))["proceed"] is True
    finalized = await activities.finalize_job(svc, job.id, "completed", {})
    assert finalized == {"status": "succeeded", "notify": True}


async def test_an_output_of_a_stopped_job_is_not_made(svc: Services) -> None:
    flagged = await _running(svc)
    await svc.jobs.request_cancel(flagged)  # running: only flagged
    canceled = (await svc.jobs.create(make_job())).id
    await svc.jobs.request_cancel(canceled)  # queued: canceled at once
    for job_id in (flagged, canceled):
        assert await activities.generate_output(svc, job_id, 0) == {"index": 0, "status": "canceled"}
        assert await _blob_names(svc, job_id) == []
        assert (await svc.jobs.get(job_id)).outputs == ()


async def test_a_cancel_request_keeps_the_last_output_from_finishing_the_job(svc: Services) -> None:
    job_id = await _running(svc, n=2)
    await activities.generate_output(svc, job_id, 0)
    await svc.jobs.request_cancel(job_id)
    job = await svc.jobs.get(job_id)
    # The flag arrived after output 1 began: its write records the output and leaves the end to finalize.
    await svc.jobs.record_progress(job_id, [Output(index=1, blob_name=f"{job_id}/1.png")])
    assert (await svc.jobs.get(job_id)).status is JobStatus.RUNNING
    assert job.cancel_requested


async def test_generate_output_keeps_text_in_the_row(svc: Services) -> None:
    job_id = await _running(svc, kind=JobKind.TEXT, prompt="What is a lighthouse?")
    await activities.generate_output(svc, job_id, 0)
    (output,) = (await svc.jobs.get(job_id)).outputs
    assert output.content_type == "text/plain"
    assert output.text and "lighthouse" in output.text


async def test_a_rejected_prompt_is_a_permanent_failure(svc: Services) -> None:
    job_id = await _running(svc, prompt="draw [reject] this")
    answer = await activities.generate_output(svc, job_id, 0)
    assert answer["status"] == "failed"
    assert answer["error"]["code"] == "content_rejected"
    assert await _blob_names(svc, job_id) == []


async def test_an_output_for_a_deleted_job_leaves_no_blob(svc: Services) -> None:
    job_id = await _running(svc)
    await svc.jobs.delete(job_id)
    assert (await activities.generate_output(svc, job_id, 0))["status"] == "failed"
    assert await _blob_names(svc, job_id) == []
    assert await _tombstoned(svc, job_id)


async def test_an_output_stored_while_its_job_is_deleted_is_taken_back(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await _running(svc, n=2)
    original = svc.jobs.record_progress

    async def deleted_meanwhile(*args: object, **kwargs: object) -> object:
        await svc.jobs.delete(job_id)  # the DELETE lands between the upload and the record
        return await original(*args, **kwargs)

    monkeypatch.setattr(svc.jobs, "record_progress", deleted_meanwhile)
    answer = await activities.generate_output(svc, job_id, 1)
    assert answer["status"] == "failed" and answer["error"]["code"] == "canceled"
    assert await _blob_names(svc, job_id) == []
    assert await _tombstoned(svc, job_id)


async def test_finalize_with_some_outputs_is_a_success_with_per_output_errors(svc: Services) -> None:
    job_id = await _running(svc, n=2)
    await activities.generate_output(svc, job_id, 0)
    answer = await activities.finalize_job(svc, job_id, "completed", {1: DOWN})
    assert answer == {"status": "succeeded", "notify": True}
    job = await svc.jobs.get(job_id)
    assert job.error is None
    assert [(o.index, o.error) for o in job.outputs] == [(0, None), (1, DOWN)]


async def test_finalize_with_no_output_fails_with_the_most_telling_error(svc: Services) -> None:
    job_id = await _running(svc, n=2)
    answer = await activities.finalize_job(svc, job_id, "completed", {0: DOWN, 1: REJECTED})
    assert answer == {"status": "failed", "notify": True}
    assert (await svc.jobs.get(job_id)).error == REJECTED


async def test_finalize_after_the_deadline_marks_the_missing_outputs(svc: Services) -> None:
    job_id = await _running(svc, n=2)
    await activities.generate_output(svc, job_id, 0)
    await activities.finalize_job(svc, job_id, "deadline_exceeded", {})
    job = await svc.jobs.get(job_id)
    assert job.status is JobStatus.SUCCEEDED
    assert job.outputs[1] == Output(index=1, error=DEADLINE_EXCEEDED)


async def test_a_job_that_ran_out_of_time_says_what_the_provider_last_did(svc: Services) -> None:
    job_id = await _running(svc, n=2)
    await activities.finalize_job(svc, job_id, "deadline_exceeded", {}, {0: DOWN, 1: REJECTED})
    job = await svc.jobs.get(job_id)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "deadline_exceeded"
    assert job.error.message == (
        f"The job did not finish in time. The last attempt failed: {REJECTED.message} Please try again.")
    assert job.outputs[0].error == activities.deadline_error(DOWN)
    assert DOWN.message in job.outputs[0].error.message


async def test_finalize_canceled(svc: Services) -> None:
    job_id = await _running(svc)
    finalized = await activities.finalize_job(svc, job_id, "canceled", {})
    assert finalized == {"status": "canceled", "notify": True}
    assert (await svc.jobs.get(job_id)).error == CANCELED


async def test_finalize_of_a_job_its_last_output_finished_still_notifies(svc: Services) -> None:
    # The deadline fired as the last output's write landed: the job succeeded, and its chat is told.
    job_id = await _running(svc)
    await activities.generate_output(svc, job_id, 0)
    assert await activities.finalize_job(svc, job_id, "deadline_exceeded", {}) == {
        "status": "succeeded", "notify": True}
    assert (await svc.jobs.get(job_id)).status is JobStatus.SUCCEEDED


async def test_finalize_loses_to_an_earlier_finish_and_does_not_notify(svc: Services) -> None:
    job_id = await _running(svc)
    await svc.jobs.finish(job_id, status=JobStatus.FAILED, error=DEADLINE_EXCEEDED)
    finalized = await activities.finalize_job(svc, job_id, "completed", {})
    assert finalized == {"status": "failed", "notify": False}
    missing = await activities.finalize_job(svc, "no-such-job", "completed", {})
    assert missing == {"status": "missing", "notify": False}


async def test_mark_running_honours_a_cancel_request_left_on_the_row(svc: Services) -> None:
    job_id = await _running(svc)
    await svc.jobs.request_cancel(job_id)  # running: only flagged
    answer = await activities.mark_job_running(svc, job_id)
    assert answer == {"proceed": False, "status": "canceled", "notify": True, "channel": "api"}
    job = await svc.jobs.get(job_id)
    assert (job.status, job.error) == (JobStatus.CANCELED, CANCELED)
