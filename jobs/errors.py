"""Errors raised by the jobs package (re-exported by the modules that raise them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobs.models import InvalidTransition

__all__ = [
    "IdempotencyConflict",
    "InvalidCursor",
    "InvalidTransition",
    "JobContention",
    "JobExists",
    "JobNotFound",
    "JobUnreadable",
    "OutputNotFound",
    "QueueUnavailable",
    "SettingsError",
]


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the setting (never its secret value)."""


class JobNotFound(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


class JobUnreadable(Exception):
    """A stored row that does not parse as a Job (written by hand, or by an older, laxer version).

    `entity` is the raw row, so a reader can show what it can of it.
    """

    def __init__(self, job_id: str, entity: Mapping[str, Any], cause: str) -> None:
        super().__init__(f"job {job_id}: stored row is unreadable ({cause})")
        self.job_id = job_id
        self.entity = entity


class JobExists(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} already exists")
        self.job_id = job_id


class IdempotencyConflict(Exception):
    """The idempotency key was already used, by `job_id`; `same_request` says whether the bodies match."""

    def __init__(self, job_id: str, same_request: bool) -> None:
        kind = "the same request" if same_request else "a different request"
        super().__init__(f"idempotency key already used by job {job_id} for {kind}")
        self.job_id = job_id
        self.same_request = same_request


class InvalidCursor(ValueError):
    """A listing cursor that this service did not issue (or that was altered)."""


class JobContention(RuntimeError):
    """A job row kept changing under a transition for more attempts than any real race needs."""

    def __init__(self, job_id: str, attempts: int) -> None:
        super().__init__(f"job {job_id}: row changed concurrently {attempts} times; giving up")
        self.job_id = job_id


class OutputNotFound(LookupError):
    def __init__(self, blob_name: str) -> None:
        super().__init__(f"output blob {blob_name} not found")
        self.blob_name = blob_name


class QueueUnavailable(Exception):
    """The job queue could not take the message (network, service or auth failure); cause chained."""
