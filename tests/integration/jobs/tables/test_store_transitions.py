"""Status transitions on real Azurite, including cancel/finish races settled by ETags."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import pytest

from jobs.domain.errors import InvalidTransitionError, JobNotFoundError
from jobs.domain.models import Job, JobError, JobStatus, Output
from jobs.tables.store import JobStore
from testing.factories import make_job

RACES = 15


async def _outcomes(*calls: Awaitable[Job]) -> tuple[list[Job], list[BaseException]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    return (
        [r for r in results if isinstance(r, Job)],
        [r for r in results if isinstance(r, BaseException)],
    )


async def test_queued_job_runs_then_succeeds(job_store: JobStore) -> None:
    job = await job_store.create(make_job(n=2))

    running = await job_store.mark_running(job.id)
    again = await job_store.mark_running(job.id)
    outputs = [Output(index=0, blob_name="b0"), Output(index=1, blob_name="b1")]
    done = await job_store.finish(job.id, status=JobStatus.SUCCEEDED, outputs=outputs)

    assert running.status is JobStatus.RUNNING
    assert again.etag == running.etag  # running stays running, nothing written
    assert done.status is JobStatus.SUCCEEDED
    assert done.completed == 2
    assert (await job_store.get(job.id)).etag == done.etag


async def test_terminal_jobs_refuse_further_transitions(job_store: JobStore) -> None:
    job = await job_store.create(make_job())
    await job_store.finish(job.id, status=JobStatus.FAILED, error=JobError("internal", "x"))

    for attempt in (
        job_store.mark_running(job.id),
        job_store.finish(job.id, status=JobStatus.SUCCEEDED),
        job_store.request_cancel(job.id),
    ):
        with pytest.raises(InvalidTransitionError) as caught:
            await attempt
        assert caught.value.current is JobStatus.FAILED


async def test_cancel_of_queued_job_is_immediate_and_of_running_job_is_a_request(job_store: JobStore) -> None:
    queued = await job_store.create(make_job())
    running = await job_store.create(make_job())
    await job_store.mark_running(running.id)

    canceled = await job_store.request_cancel(queued.id)
    requested = await job_store.request_cancel(running.id)

    assert canceled.status is JobStatus.CANCELED
    assert canceled.error is not None and canceled.error.code == "canceled"
    assert requested.status is JobStatus.RUNNING
    assert requested.cancel_requested is True
    listed, _ = await job_store.list_jobs(user=None, status=JobStatus.CANCELED, limit=10, cursor=None)
    assert [job.id for job in listed] == [queued.id]


async def test_transitions_of_unknown_jobs_raise_job_not_found(job_store: JobStore) -> None:
    with pytest.raises(JobNotFoundError):
        await job_store.mark_running("missing")


def _lost_races(caplog: pytest.LogCaptureFixture) -> int:
    return sum("row changed concurrently" in record.getMessage() for record in caplog.records)


async def test_cancel_and_finish_of_a_queued_job_never_both_win(
    job_store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jobs.tables.store")
    for _ in range(RACES):
        job = await job_store.create(make_job())
        winners, losers = await _outcomes(
            job_store.request_cancel(job.id),
            job_store.finish(job.id, status=JobStatus.FAILED, error=JobError("timeout", "late")),
        )
        assert len(winners) == 1, losers
        assert len(losers) == 1 and isinstance(losers[0], InvalidTransitionError)
        final = await job_store.get(job.id)
        assert final.status is winners[0].status
        # The index copy of the status ends up as the row's, whichever side lost.
        listed, _ = await job_store.list_jobs(user=None, status=final.status, limit=50, cursor=None)
        assert job.id in {listed_job.id for listed_job in listed}
    # The calls really overlapped: some writes were refused on their ETag and re-read.
    assert _lost_races(caplog) > 0


async def test_two_finishes_of_a_running_job_have_exactly_one_winner(
    job_store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jobs.tables.store")
    for _ in range(RACES):
        job = await job_store.create(make_job())
        await job_store.mark_running(job.id)
        winners, losers = await _outcomes(
            job_store.finish(job.id, status=JobStatus.CANCELED),
            job_store.finish(job.id, status=JobStatus.SUCCEEDED, outputs=[Output(index=0, blob_name="b")]),
        )
        assert len(winners) == 1, losers
        assert len(losers) == 1 and isinstance(losers[0], InvalidTransitionError)
        assert losers[0].current is winners[0].status
        assert (await job_store.get(job.id)).status is winners[0].status
    assert _lost_races(caplog) > 0


async def test_progress_never_goes_backwards(job_store: JobStore) -> None:
    job = await job_store.create(make_job(n=3))
    await job_store.mark_running(job.id)

    await job_store.record_progress(job.id, [Output(index=0, blob_name="b0")])
    two = await job_store.record_progress(job.id, [Output(index=1, blob_name="b1")])
    replayed = await job_store.record_progress(job.id, [Output(index=0, blob_name="b0")])
    failed_one = await job_store.record_progress(
        job.id, [Output(index=2, error=JobError("content_rejected", "no"))]
    )

    assert two.completed == 2
    assert replayed.completed == 2
    assert replayed.etag == two.etag  # nothing new: nothing written
    assert failed_one.completed == 2
    assert [output.index for output in failed_one.outputs] == [0, 1, 2]


async def test_concurrent_progress_keeps_every_output(job_store: JobStore) -> None:
    job = await job_store.create(make_job(n=4))
    await job_store.mark_running(job.id)

    await asyncio.gather(
        *(job_store.record_progress(job.id, [Output(index=i, blob_name=f"b{i}")]) for i in range(4))
    )

    read = await job_store.get(job.id)
    assert read.completed == 4
    assert [output.index for output in read.outputs] == [0, 1, 2, 3]
    assert read.status is JobStatus.SUCCEEDED  # whichever write landed last finished it


async def test_progress_on_a_terminal_job_is_a_no_op(job_store: JobStore) -> None:
    job = await job_store.create(make_job())
    canceled = await job_store.request_cancel(job.id)

    after = await job_store.record_progress(job.id, [Output(index=0, blob_name="b0")])

    assert after.status is JobStatus.CANCELED
    assert after.outputs == ()
    assert after.etag == canceled.etag


async def test_progress_from_a_stale_read_is_applied_to_the_latest_row(job_store: JobStore) -> None:
    job = await job_store.create(make_job(n=2))
    stale = await job_store.mark_running(job.id)
    await job_store.record_progress(job.id, [Output(index=0, blob_name="b0")])

    after = await job_store.record_progress(job.id, [Output(index=1, blob_name="b1")], read=stale)

    assert [output.index for output in after.outputs] == [0, 1]
    assert after.status is JobStatus.SUCCEEDED
    assert await job_store.get(job.id) == after
