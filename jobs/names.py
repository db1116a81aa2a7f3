"""Storage names shared by every part of the app (tables, container, queues, blob names)."""

from __future__ import annotations

JOBS_TABLE = "jobs"
JOB_INDEX_TABLE = "jobindex"
IDEMPOTENCY_TABLE = "idempotency"
WEBHOOK_EVENTS_TABLE = "webhookevents"
QUOTAS_TABLE = "quotas"
PACING_TABLE = "pacing"
CONVERSATIONS_TABLE = "conversations"
DELETIONS_TABLE = "deletions"
OUTPUTS_CONTAINER = "outputs"
DEFAULT_QUEUE_NAME = "generation-jobs"
# Review decisions as messages: the `review_job` function's trigger, so the portal can run it with input.
REVIEW_DECISIONS_QUEUE = "review-decisions"


def poison_queue_name(queue_name: str) -> str:
    """The queue the Functions host moves a Storage queue message to after maxDequeueCount tries."""
    return f"{queue_name}-poison"


def image_blob_name(job_id: str, index: int) -> str:
    return f"{job_id}/{index}.png"


def preview_blob_name(job_id: str, index: int) -> str:
    return f"{job_id}/{index}.preview.jpg"


def job_blob_prefix(job_id: str) -> str:
    return f"{job_id}/"
