from __future__ import annotations

import pytest

from jobs.domain.errors import InvalidTransitionError
from jobs.domain.models import Channel, ChatDelivery, Job, JobError, JobKind, JobRequest, JobStatus, Output


def _job(**request: object) -> Job:
    return Job.new(JobRequest(prompt="a red fox", **request), channel=Channel.API)  # type: ignore[arg-type]


def test_new_job_is_queued_with_a_fresh_id() -> None:
    first, second = _job(), _job()
    assert first.status is JobStatus.QUEUED
    assert first.id != second.id
    assert first.created_at == first.updated_at
    assert first.total == 1


def test_text_jobs_always_have_one_output() -> None:
    assert _job(kind=JobKind.TEXT, n=3).total == 1
    assert _job(kind=JobKind.IMAGE, n=3).total == 3


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ((JobStatus.RUNNING, JobStatus.SUCCEEDED), True),
        ((JobStatus.RUNNING, JobStatus.FAILED), True),
        ((JobStatus.CANCELED,), True),
        ((JobStatus.RUNNING, JobStatus.CANCELED), True),
        ((JobStatus.SUCCEEDED,), False),
        ((JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.CANCELED), False),
        ((JobStatus.CANCELED, JobStatus.RUNNING), False),
        ((JobStatus.RUNNING, JobStatus.QUEUED), False),
    ],
)
def test_transitions_follow_the_state_machine(path: tuple[JobStatus, ...], allowed: bool) -> None:
    job = _job()
    try:
        for status in path:
            job = job.with_status(status)
    except InvalidTransitionError as exc:
        assert not allowed, f"{path} should be allowed"
        assert exc.job_id == job.id
    else:
        assert allowed, f"{path} should be refused"
        assert job.status is path[-1]


def test_terminal_statuses() -> None:
    assert {s for s in JobStatus if s.is_terminal} == {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.CANCELED,
    }


def test_output_round_trips_through_dict() -> None:
    output = Output(
        index=2,
        content_type="image/png",
        blob_name="j/2.png",
        preview_blob_name="j/2.preview.jpg",
        width=1024,
        height=1024,
        error=None,
    )
    assert Output.from_dict(output.to_dict()) == output
    failed = Output(index=0, error=JobError("content_rejected", "The prompt was rejected."))
    assert Output.from_dict(failed.to_dict()) == failed
    assert "text" not in failed.to_dict()


def test_chat_delivery_keeps_the_stored_shape() -> None:
    stored = {
        "reply_token": "rt-1", "event_timestamp_ms": 1_700_000_000_000, "to": "C1",
        "source_type": "group", "user_id": None, "webhook_event_id": "01EV",
    }
    delivery = ChatDelivery.from_dict(stored)
    assert delivery == ChatDelivery(
        to="C1", source_type="group", reply_token="rt-1", event_timestamp_ms=1_700_000_000_000,
        webhook_event_id="01EV",
    )
    assert delivery is not None and delivery.to_dict() == stored
    assert "rt-1" not in repr(delivery)


def test_chat_delivery_of_a_row_without_a_chat_is_none() -> None:
    assert ChatDelivery.from_dict({}) is None  # API jobs
    assert ChatDelivery.from_dict({"reply_token": "rt"}) is None
    odd = ChatDelivery.from_dict({"to": "U1", "event_timestamp_ms": "12", "source_type": 3})
    assert odd == ChatDelivery(to="U1")
