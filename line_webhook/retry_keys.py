"""Retry keys for pushes: UUIDs derived from the job id, so every retry of a delivery repeats them."""

from __future__ import annotations

import uuid

# Fixed forever: changing it would make LINE treat a retried push as a new one.
RETRY_KEY_NAMESPACE = uuid.UUID("5b0d7c1e-2f43-4d8a-9a57-6c1e0b7f3a21")


def retry_key(job_id: str, batch: int = 0) -> str:
    """The `X-Line-Retry-Key` of push call `batch` of a job's delivery (batch 0 is uuid5 of the id)."""
    name = job_id if batch == 0 else f"{job_id}/{batch}"
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, name))


def review_notice_key(job_id: str) -> str:
    """The retry key of a job's one "a person is checking it" notice (never equal to a batch's)."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{job_id}/review"))


def waiting_retry_key(job_id: str) -> str:
    """The `X-Line-Retry-Key` of the push that tells the chat its job waits for provider capacity."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{job_id}/waiting"))
