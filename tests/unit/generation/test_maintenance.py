"""The maintenance decisions, walked over every job status, orchestration state and age."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from generation.maintenance import (
    FailJob,
    InstanceState,
    MaintenancePolicy,
    Redrive,
    Restart,
    WakeReview,
    instance_state,
    plan_job,
    plan_maintenance,
)
from jobs.contracts import DEADLINE_EXCEEDED
from jobs.domain.callbacks import Callback
from jobs.domain.models import Channel, Job, JobStatus
from jobs.domain.review import Decision, Review, ReviewState
from testing.factories import make_job

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = MaintenancePolicy.from_settings(deadline_seconds=600, retention_days=30)
FRESH = timedelta(minutes=1)  # younger than the 3-minute staleness
STALE = timedelta(minutes=4)  # stale, still within deadline + grace (15 minutes)
OVERDUE = timedelta(minutes=16)

A = InstanceState


def job_at(
    status: JobStatus, idle: timedelta, *, channel: Channel = Channel.API, job_id: str = "job-1"
) -> Job:
    """A job whose row was last written `idle` before NOW, in `status`."""
    return make_job(id=job_id, channel=channel, created_at=NOW - idle, status=status)


REDRIVE = "redrive"
LEAVE = None
FAIL_DEADLINE_TERMINATE = ("fail", "deadline_exceeded", True)
FAIL_DEADLINE = ("fail", "deadline_exceeded", False)
RESTART = "restart"

CASES = [
    # queued
    (JobStatus.QUEUED, A.MISSING, FRESH, LEAVE),
    (JobStatus.QUEUED, A.MISSING, STALE, REDRIVE),
    (JobStatus.QUEUED, A.MISSING, OVERDUE, FAIL_DEADLINE),
    (JobStatus.QUEUED, A.ACTIVE, FRESH, LEAVE),
    (JobStatus.QUEUED, A.ACTIVE, STALE, LEAVE),
    (JobStatus.QUEUED, A.ACTIVE, OVERDUE, FAIL_DEADLINE_TERMINATE),
    (JobStatus.QUEUED, A.COMPLETED, FRESH, LEAVE),
    (JobStatus.QUEUED, A.COMPLETED, STALE, RESTART),
    (JobStatus.QUEUED, A.COMPLETED, OVERDUE, FAIL_DEADLINE),
    (JobStatus.QUEUED, A.ENDED_BADLY, FRESH, LEAVE),
    (JobStatus.QUEUED, A.ENDED_BADLY, STALE, RESTART),
    (JobStatus.QUEUED, A.ENDED_BADLY, OVERDUE, FAIL_DEADLINE),
    # running
    (JobStatus.RUNNING, A.MISSING, FRESH, LEAVE),
    (JobStatus.RUNNING, A.MISSING, STALE, RESTART),
    (JobStatus.RUNNING, A.MISSING, OVERDUE, FAIL_DEADLINE),
    (JobStatus.RUNNING, A.ACTIVE, FRESH, LEAVE),
    (JobStatus.RUNNING, A.ACTIVE, STALE, LEAVE),
    (JobStatus.RUNNING, A.ACTIVE, OVERDUE, FAIL_DEADLINE_TERMINATE),
    (JobStatus.RUNNING, A.COMPLETED, FRESH, LEAVE),
    (JobStatus.RUNNING, A.COMPLETED, STALE, RESTART),
    (JobStatus.RUNNING, A.COMPLETED, OVERDUE, FAIL_DEADLINE),
    (JobStatus.RUNNING, A.ENDED_BADLY, FRESH, LEAVE),
    (JobStatus.RUNNING, A.ENDED_BADLY, STALE, RESTART),
    (JobStatus.RUNNING, A.ENDED_BADLY, OVERDUE, FAIL_DEADLINE),
]


def outcome(action: Redrive | Restart | FailJob | None) -> object:
    if action is None:
        return None
    if isinstance(action, Redrive):
        return REDRIVE
    if isinstance(action, Restart):
        return RESTART
    return ("fail", action.error.code, action.terminate)


@pytest.mark.parametrize(("status", "state", "idle", "expected"), CASES)
def test_unfinished_job_decisions(
    status: JobStatus, state: InstanceState, idle: timedelta, expected: object
) -> None:
    action = plan_job(job_at(status, idle), state, now=NOW, policy=POLICY)

    assert outcome(action) == expected
    if action is not None:
        assert action.job_id == "job-1"


def test_every_combination_of_status_and_state_is_covered() -> None:
    covered = {(status, state, idle) for status, state, idle, _ in CASES}
    for status in (JobStatus.QUEUED, JobStatus.RUNNING):
        for state in InstanceState:
            for idle in (FRESH, STALE, OVERDUE):
                assert (status, state, idle) in covered


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED])
@pytest.mark.parametrize("state", list(InstanceState))
def test_finished_jobs_are_left_alone(status: JobStatus, state: InstanceState) -> None:
    assert plan_job(job_at(status, OVERDUE), state, now=NOW, policy=POLICY) is None


def test_failures_carry_user_safe_messages() -> None:
    overdue = plan_job(job_at(JobStatus.RUNNING, OVERDUE), A.ACTIVE, now=NOW, policy=POLICY)

    assert isinstance(overdue, FailJob) and overdue.error == DEADLINE_EXCEEDED
    assert "Please try again" in DEADLINE_EXCEEDED.message


@pytest.mark.parametrize("state", [A.MISSING, A.COMPLETED, A.ENDED_BADLY])
@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_a_job_with_time_left_is_never_failed_whatever_ended_its_orchestration(
    status: JobStatus, state: InstanceState
) -> None:
    # Stale (an outage kept the row from moving), but accepted recently enough to finish in time.
    job = make_job(id="job-1", n=2, status=status, created_at=NOW - STALE)
    action = plan_job(job, state, now=NOW, policy=POLICY)
    assert action in (Redrive("job-1"), Restart("job-1", outputs=2))
    assert not isinstance(action, FailJob)


@pytest.mark.parametrize(("channel", "expected"), [(Channel.LINE, "line"), (Channel.API, None)])
def test_failed_jobs_are_delivered_only_on_channels_with_delivery(
    channel: Channel, expected: str | None
) -> None:
    action = plan_job(job_at(JobStatus.RUNNING, OVERDUE, channel=channel), A.ACTIVE, now=NOW, policy=POLICY)

    assert isinstance(action, FailJob)
    assert action.deliver_channel == expected


def test_boundaries_are_inclusive() -> None:
    at_stale = plan_job(job_at(JobStatus.QUEUED, POLICY.stale_after), A.MISSING, now=NOW, policy=POLICY)
    just_fresh = plan_job(
        job_at(JobStatus.QUEUED, POLICY.stale_after - timedelta(seconds=1)), A.MISSING, now=NOW, policy=POLICY
    )
    at_deadline = plan_job(
        job_at(JobStatus.RUNNING, POLICY.deadline + POLICY.grace), A.ACTIVE, now=NOW, policy=POLICY
    )
    before_deadline = plan_job(
        job_at(JobStatus.RUNNING, POLICY.deadline + POLICY.grace - timedelta(seconds=1)),
        A.ACTIVE, now=NOW, policy=POLICY,
    )

    assert at_stale == Redrive("job-1")
    assert just_fresh is None
    assert outcome(at_deadline) == FAIL_DEADLINE_TERMINATE
    assert before_deadline is None


def test_the_deadline_follows_the_setting() -> None:
    short = MaintenancePolicy.from_settings(deadline_seconds=60, retention_days=30)
    job = job_at(JobStatus.RUNNING, timedelta(minutes=7))

    assert outcome(plan_job(job, A.ACTIVE, now=NOW, policy=short)) == FAIL_DEADLINE_TERMINATE
    assert plan_job(job, A.ACTIVE, now=NOW, policy=POLICY) is None


def test_plan_keeps_order_and_skips_jobs_without_a_known_state() -> None:
    jobs = [
        job_at(JobStatus.QUEUED, STALE, job_id="lost"),
        job_at(JobStatus.RUNNING, OVERDUE, job_id="unknown"),
        job_at(JobStatus.RUNNING, FRESH, job_id="busy"),
        job_at(JobStatus.RUNNING, OVERDUE, job_id="stuck", channel=Channel.LINE),
    ]
    states = {"lost": A.MISSING, "busy": A.ACTIVE, "stuck": A.ACTIVE}

    actions = plan_maintenance(jobs, states, now=NOW, policy=POLICY)

    assert actions == [
        Redrive("lost"),
        FailJob("stuck", DEADLINE_EXCEEDED, terminate=True, deliver_channel="line"),
    ]


def test_every_durable_runtime_status_has_a_state() -> None:
    folded = {status: instance_state(status.value) for status in OrchestrationRuntimeStatus}

    assert folded[OrchestrationRuntimeStatus.Running] is A.ACTIVE
    assert folded[OrchestrationRuntimeStatus.Pending] is A.ACTIVE
    assert folded[OrchestrationRuntimeStatus.Suspended] is A.ACTIVE
    assert folded[OrchestrationRuntimeStatus.ContinuedAsNew] is A.ACTIVE
    assert folded[OrchestrationRuntimeStatus.Completed] is A.COMPLETED
    assert folded[OrchestrationRuntimeStatus.Failed] is A.ENDED_BADLY
    assert folded[OrchestrationRuntimeStatus.Terminated] is A.ENDED_BADLY
    assert folded[OrchestrationRuntimeStatus.Canceled] is A.ENDED_BADLY
    assert instance_state(None) is A.MISSING
    with pytest.raises(ValueError, match="Exploded"):
        instance_state("Exploded")


def test_cutoffs() -> None:
    assert POLICY.unfinished_cutoff(NOW) == NOW - timedelta(minutes=3)
    assert POLICY.expiry_cutoff(NOW) == NOW - timedelta(days=30)


def test_a_failed_job_with_a_callback_is_handed_to_the_delivery() -> None:
    callback = Callback(url="https://h.example/x", base_url="https://api.example")
    job = replace(job_at(JobStatus.RUNNING, OVERDUE), callback=callback)
    action = plan_job(job, A.ACTIVE, now=NOW, policy=POLICY)

    assert isinstance(action, FailJob)
    assert (action.deliver_channel, action.callback) == (None, True)
    plain = plan_job(job_at(JobStatus.RUNNING, OVERDUE), A.ACTIVE, now=NOW, policy=POLICY)
    assert isinstance(plain, FailJob) and plain.callback is False


@pytest.mark.parametrize(("state", "expected"), [(A.ACTIVE, None), (A.MISSING, Restart("job-1", 1)),
                                                 (A.ENDED_BADLY, Restart("job-1", 1))])
def test_a_job_waiting_for_review_is_not_stuck(state: InstanceState, expected: Restart | None) -> None:
    review = Review(ReviewState.PENDING, "why", NOW - OVERDUE, NOW + timedelta(hours=20))
    held = replace(job_at(JobStatus.RUNNING, OVERDUE), gated=True, review=review)
    assert plan_job(held, state, now=NOW, policy=POLICY) == expected


def test_a_decision_the_orchestration_has_not_acted_on_wakes_it_again() -> None:
    review = Review(ReviewState.PENDING, "why", NOW - OVERDUE, NOW + timedelta(hours=20))
    decided = replace(job_at(JobStatus.RUNNING, OVERDUE), gated=True,
                      review=review.decided(Decision.APPROVE, note=None, now=NOW - OVERDUE))
    assert plan_job(decided, A.ACTIVE, now=NOW, policy=POLICY) == WakeReview("job-1")
    assert plan_job(decided, A.MISSING, now=NOW, policy=POLICY) == FailJob(
        "job-1", DEADLINE_EXCEEDED, terminate=False, deliver_channel=None), "no orchestration to wake"
