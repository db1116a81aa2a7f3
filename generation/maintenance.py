"""What the maintenance timer does about each unfinished job: pure decisions, no I/O and no clock.

The timer reads the rows and the orchestration states, asks `plan_maintenance` what to do, and carries
the answer out. Keeping the decisions here lets unit tests walk every combination of job status,
orchestration state and age.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from jobs.contracts import DEADLINE_EXCEEDED, delivery_activity
from jobs.domain.models import Job, JobError, JobStatus

# A queued job normally starts within seconds; one left this long lost its queue message (a failed
# send answered with 503, or a message that went to the poison queue) and is sent again.
STALE_AFTER = timedelta(minutes=3)
# Room past the pipeline's own deadline for it to finalize the job itself before maintenance steps in:
# one maintenance period (5 minutes), so a job is never failed while its deadline timer is still due.
DEADLINE_GRACE = timedelta(minutes=5)



class InstanceState(StrEnum):
    """An orchestration's runtime status, folded into what maintenance needs to tell apart."""

    MISSING = "missing"
    ACTIVE = "active"
    COMPLETED = "completed"
    ENDED_BADLY = "ended_badly"


_ACTIVE_STATUSES = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})
_BAD_END_STATUSES = frozenset({"Failed", "Terminated", "Canceled"})


def instance_state(runtime_status: str | None) -> InstanceState:
    """Fold a Durable runtime status name ("Running", "Failed", ...; None = no instance)."""
    if runtime_status is None:
        return InstanceState.MISSING
    if runtime_status in _ACTIVE_STATUSES:
        return InstanceState.ACTIVE
    if runtime_status == "Completed":
        return InstanceState.COMPLETED
    if runtime_status in _BAD_END_STATUSES:
        return InstanceState.ENDED_BADLY
    raise ValueError(f"unknown orchestration runtime status: {runtime_status!r}")


@dataclass(frozen=True)
class MaintenancePolicy:
    """The ages maintenance acts on, from the pipeline settings."""

    deadline: timedelta
    retention: timedelta
    stale_after: timedelta = STALE_AFTER
    grace: timedelta = DEADLINE_GRACE

    @classmethod
    def from_settings(cls, *, deadline_seconds: int, retention_days: int) -> MaintenancePolicy:
        return cls(deadline=timedelta(seconds=deadline_seconds), retention=timedelta(days=retention_days))

    def unfinished_cutoff(self, now: datetime) -> datetime:
        """Queued or running rows untouched since before this instant are looked at."""
        return now - self.stale_after

    def expiry_cutoff(self, now: datetime) -> datetime:
        """Jobs (and de-duplication records) created before this instant are purged."""
        return now - self.retention


@dataclass(frozen=True)
class Redrive:
    """Send the job's queue message again (starting its orchestration is idempotent)."""

    job_id: str


@dataclass(frozen=True)
class Restart:
    """Start the job's orchestration again: the last one ended (or vanished) without finishing the
    row, and the job still has time. Replacing an ended instance is how Durable Functions restarts."""

    job_id: str
    outputs: int


@dataclass(frozen=True)
class FailJob:
    """Mark the job failed; stop its orchestration if it still runs; tell the user if the channel can."""

    job_id: str
    error: JobError
    terminate: bool
    deliver_channel: str | None
    callback: bool = False  # the job has a completion callback to deliver


@dataclass(frozen=True)
class WakeReview:
    """Raise the `review` event again: a decision is on the row, but the orchestration has not acted
    on it (the event raised with the decision was lost)."""

    job_id: str


Action = Redrive | Restart | FailJob | WakeReview


def _fail(job: Job, error: JobError, *, terminate: bool) -> FailJob:
    channel = job.channel.value if delivery_activity(job.channel.value) else None
    return FailJob(job_id=job.id, error=error, terminate=terminate, deliver_channel=channel,
                   callback=job.callback is not None)


def _in_review(job: Job, state: InstanceState) -> Action | None:
    """Waiting for a person is not being stuck. An orchestration lost meanwhile is started again (it
    finds the review on the row and waits out what is left of it); one that has not acted on a
    decision for a while is woken again."""
    assert job.review is not None
    if not job.review.pending:
        return WakeReview(job.id)
    return None if state is InstanceState.ACTIVE else Restart(job.id, outputs=job.total)


def plan_job(job: Job, state: InstanceState, *, now: datetime, policy: MaintenancePolicy) -> Action | None:
    """The one thing to do about `job` given its orchestration's state, or None to leave it alone.

    Nothing transient fails a job here: a job whose orchestration is gone or ended early (a storage
    outage outlasted it, history was lost, a host died) is started again while it still has time, and
    fails only as `deadline_exceeded` once it has none.
    """
    idle = now - job.updated_at
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) or idle < policy.stale_after:
        return None
    if job.review is not None and (job.review.pending or state is InstanceState.ACTIVE):
        return _in_review(job, state)
    if state is InstanceState.ACTIVE:
        # The pipeline bumps updated_at when it starts and on every output, so "idle past the
        # deadline" means nothing has happened for longer than the pipeline itself would have waited.
        overdue = idle >= policy.deadline + policy.grace
        return _fail(job, DEADLINE_EXCEEDED, terminate=True) if overdue else None
    if now - job.created_at >= policy.deadline + policy.grace:
        return _fail(job, DEADLINE_EXCEEDED, terminate=False)
    if state is InstanceState.MISSING and job.status is JobStatus.QUEUED:
        return Redrive(job.id)
    # Running without an orchestration, or an orchestration that ended without finishing the row.
    return Restart(job.id, outputs=job.total)


def plan_maintenance(
    jobs: Sequence[Job],
    states: Mapping[str, InstanceState],
    *,
    now: datetime,
    policy: MaintenancePolicy,
) -> list[Action]:
    """Actions for every job whose orchestration state is known (a job missing from `states` is skipped)."""
    actions: list[Action] = []
    for job in jobs:
        state = states.get(job.id)
        if state is None:
            continue
        action = plan_job(job, state, now=now, policy=policy)
        if action is not None:
            actions.append(action)
    return actions
