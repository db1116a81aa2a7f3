"""Factories for jobs, shared by every test package."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jobs.domain.models import Channel, Job, JobRequest

_REQUEST_FIELDS = ("prompt", "kind", "n", "size", "user", "callback_url")


def make_request(**overrides: Any) -> JobRequest:
    """A valid request (one 1024x1024 image of a red fox) with any field overridden."""
    return JobRequest(**{"prompt": "a red fox in the snow", **overrides})


def make_job(**overrides: Any) -> Job:
    """A new queued API job; request fields (prompt, kind, n, size, user) and Job fields may be overridden."""
    request = make_request(**{key: overrides.pop(key) for key in _REQUEST_FIELDS if key in overrides})
    job = Job.new(
        request,
        channel=overrides.pop("channel", Channel.API),
        delivery=overrides.pop("delivery", None),
        job_id=overrides.pop("id", None),
        now=overrides.get("created_at"),
    )
    return replace(job, **overrides) if overrides else job
