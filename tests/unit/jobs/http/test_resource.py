"""The public job resource: shape, links and what it never shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from jobs.domain.models import Channel, ChatDelivery, Job, JobError, JobKind, JobRequest, JobStatus, Output
from jobs.http import iso_utc, job_resource

BASE = "https://api.example.com"
CREATED = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _job(**changes: object) -> Job:
    job = Job.new(
        JobRequest(prompt="a red fox", n=2, user="u1"), channel=Channel.API, job_id="job-1", now=CREATED,
        delivery=ChatDelivery(to="U1", reply_token="secret-token"),
    )
    return replace(job, etag='W/"1"', cancel_requested=True, **changes)  # type: ignore[arg-type]


def test_queued_job_resource_has_exactly_the_public_fields() -> None:
    resource = job_resource(_job(), base_url=BASE)
    assert resource == {
        "id": "job-1", "status": "queued", "kind": "image", "prompt": "a red fox", "n": 2,
        "size": "1024x1024", "user": "u1", "channel": "api",
        "created_at": "2025-01-02T03:04:05.678Z", "updated_at": "2025-01-02T03:04:05.678Z",
        "progress": {"completed": 0, "total": 2}, "outputs": [], "error": None,
    }
    assert "secret-token" not in repr(resource)


def test_image_outputs_link_to_the_output_endpoint_in_index_order() -> None:
    outputs = (
        Output(index=1, content_type="image/png", blob_name="job-1/1.png",
               preview_blob_name="job-1/1.preview.jpg", width=1024, height=1024),
        Output(index=0, content_type="image/png", blob_name="job-1/0.png",
               preview_blob_name="job-1/0.preview.jpg", width=1024, height=1024),
    )
    job = _job(status=JobStatus.SUCCEEDED, outputs=outputs, completed=2)
    resource = job_resource(job, base_url=BASE)
    assert resource["progress"] == {"completed": 2, "total": 2}
    assert resource["outputs"] == [
        {"index": 0, "url": f"{BASE}/api/generations/job-1/outputs/0",
         "preview_url": f"{BASE}/api/generations/job-1/outputs/0?variant=preview",
         "content_type": "image/png", "width": 1024, "height": 1024},
        {"index": 1, "url": f"{BASE}/api/generations/job-1/outputs/1",
         "preview_url": f"{BASE}/api/generations/job-1/outputs/1?variant=preview",
         "content_type": "image/png", "width": 1024, "height": 1024},
    ]
    assert "blob_name" not in repr(resource)


def test_text_output_shows_the_text() -> None:
    job = _job(kind=JobKind.TEXT, n=1, status=JobStatus.SUCCEEDED, completed=1,
               outputs=(Output(index=0, content_type="text/plain", text="Once upon a time"),))
    assert job_resource(job, base_url=BASE)["outputs"] == [{"index": 0, "text": "Once upon a time"}]


def test_failed_output_and_job_error() -> None:
    rejected = JobError(code="content_rejected", message="The prompt was rejected.")
    job = _job(status=JobStatus.FAILED, completed=1, error=rejected, outputs=(
        Output(index=0, content_type="image/png", blob_name="job-1/0.png", width=1024, height=1024),
        Output(index=1, error=rejected),
    ))
    resource = job_resource(job, base_url=BASE)
    assert resource["outputs"][1] == {"index": 1, "error": rejected.to_dict()}
    assert resource["error"] == {"code": "content_rejected", "message": "The prompt was rejected."}
    assert resource["status"] == "failed"


def test_line_channel_and_no_user() -> None:
    resource = job_resource(_job(channel=Channel.LINE, user=None), base_url=BASE)
    assert resource["channel"] == "line"
    assert resource["user"] is None


def test_iso_utc_converts_other_zones_and_naive_times() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert iso_utc(datetime(2025, 1, 1, 9, 0, tzinfo=tokyo)) == "2025-01-01T00:00:00.000Z"
    assert iso_utc(datetime(2025, 1, 1, 9, 0)) == "2025-01-01T09:00:00.000Z"
