"""Pure status changes: what each store transition writes, or refuses."""

from __future__ import annotations

import pytest

from jobs.domain.errors import InvalidTransitionError
from jobs.domain.models import (
    JobError,
    JobStatus,
    Output,
    apply_cancel,
    apply_finish,
    apply_progress,
    merge_outputs,
    start_running,
)
from testing.factories import make_job

OK0, OK1 = Output(index=0, blob_name="b0"), Output(index=1, blob_name="b1")
BAD1 = Output(index=1, error=JobError("content_rejected", "no"))


def test_start_running() -> None:
    running = start_running(make_job())
    assert running is not None and running.status is JobStatus.RUNNING
    assert start_running(running) is None
    with pytest.raises(InvalidTransitionError):
        start_running(make_job(status=JobStatus.CANCELED))


def test_merge_outputs_by_index_newest_wins_but_never_a_failure_over_a_success() -> None:
    assert merge_outputs([OK1], [OK0]) == (OK0, OK1)
    assert merge_outputs([OK0, BAD1], [OK1]) == (OK0, OK1)
    assert merge_outputs([OK0, OK1], [BAD1]) == (OK0, OK1)
    newer = Output(index=0, blob_name="b0-again")
    assert merge_outputs([OK0], [newer]) == (newer,)


def test_progress_counts_successes_and_never_decreases() -> None:
    job = make_job(n=2, status=JobStatus.RUNNING)
    one = apply_progress(job, [OK0])
    assert one is not None and one.completed == 1
    assert apply_progress(one, [OK0]) is None
    with_failure = apply_progress(one, [BAD1])
    assert with_failure is not None and with_failure.completed == 1
    # A late failure for an output that already succeeded (a stale retry) changes nothing.
    done_once = make_job(n=1, status=JobStatus.RUNNING, outputs=(OK0,), completed=1)
    assert apply_progress(done_once, [Output(index=0, error=JobError("internal", "x"))]) is None


def test_progress_on_terminal_jobs_changes_nothing() -> None:
    assert apply_progress(make_job(status=JobStatus.SUCCEEDED), [OK0]) is None


def test_finish_requires_a_terminal_status_and_a_live_job() -> None:
    running = make_job(status=JobStatus.RUNNING)
    with pytest.raises(ValueError):
        apply_finish(running, status=JobStatus.RUNNING, outputs=(), error=None)
    done = apply_finish(running, status=JobStatus.SUCCEEDED, outputs=[OK0], error=None)
    assert (done.status, done.completed, done.outputs) == (JobStatus.SUCCEEDED, 1, (OK0,))
    with pytest.raises(InvalidTransitionError) as caught:
        apply_finish(done, status=JobStatus.CANCELED, outputs=(), error=None)
    assert caught.value.current is JobStatus.SUCCEEDED


def test_finish_as_canceled_carries_the_canceled_error() -> None:
    running = make_job(status=JobStatus.RUNNING)
    canceled = apply_finish(running, status=JobStatus.CANCELED, outputs=(), error=None)
    assert canceled.error is not None and canceled.error.code == "canceled"


def test_cancel() -> None:
    canceled = apply_cancel(make_job())
    assert canceled is not None and canceled.status is JobStatus.CANCELED
    flagged = apply_cancel(make_job(status=JobStatus.RUNNING))
    assert flagged is not None and flagged.status is JobStatus.RUNNING and flagged.cancel_requested
    assert apply_cancel(flagged) is None
    with pytest.raises(InvalidTransitionError):
        apply_cancel(canceled)


def test_the_last_output_of_a_running_job_finishes_it_as_succeeded() -> None:
    job = make_job(n=2, status=JobStatus.RUNNING, outputs=(OK0,), completed=1)
    done = apply_progress(job, [OK1])
    assert done is not None
    assert (done.status, done.completed, done.error) == (JobStatus.SUCCEEDED, 2, None)


def test_the_last_output_leaves_queued_flagged_or_partly_failed_jobs_to_the_orchestrator() -> None:
    early = apply_progress(make_job(n=1), [OK0])
    flagged = apply_progress(make_job(n=1, status=JobStatus.RUNNING, cancel_requested=True), [OK0])
    partial = apply_progress(make_job(n=2, status=JobStatus.RUNNING, outputs=(OK0,), completed=1), [BAD1])
    assert early is not None and early.status is JobStatus.QUEUED
    assert flagged is not None and flagged.status is JobStatus.RUNNING
    assert partial is not None and partial.status is JobStatus.RUNNING
