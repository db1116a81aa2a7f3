"""Errors raised by the jobs package (re-exported by the modules that raise them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.domain.models import JobStatus


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the setting (never its secret value)."""


class JobNotFoundError(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


class JobUnreadableError(Exception):
    """A stored row that does not parse as a Job (written by hand, or by an older, laxer version).

    `entity` is the raw row, so a reader can show what it can of it.
    """

    def __init__(self, job_id: str, entity: Mapping[str, Any], cause: str) -> None:
        super().__init__(f"job {job_id}: stored row is unreadable ({cause})")
        self.job_id = job_id
        self.entity = entity


class JobExistsError(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} already exists")
        self.job_id = job_id


class IdempotencyConflictError(Exception):
    """The idempotency key was already used, by `job_id`; `same_request` says whether the bodies match."""

    def __init__(self, job_id: str, same_request: bool) -> None:
        kind = "the same request" if same_request else "a different request"
        super().__init__(f"idempotency key already used by job {job_id} for {kind}")
        self.job_id = job_id
        self.same_request = same_request


class InvalidCursorError(ValueError):
    """A listing cursor that this service did not issue (or that was altered)."""


class JobContentionError(RuntimeError):
    """A job row kept changing under a transition for more attempts than any real race needs."""

    def __init__(self, job_id: str, attempts: int) -> None:
        super().__init__(f"job {job_id}: row changed concurrently {attempts} times; giving up")
        self.job_id = job_id


class OutputNotFoundError(LookupError):
    def __init__(self, blob_name: str) -> None:
        super().__init__(f"output blob {blob_name} not found")
        self.blob_name = blob_name


class QueueUnavailableError(Exception):
    """The job queue could not take the message (network, service or auth failure); cause chained."""


class InvalidTransitionError(Exception):
    """A status change the state machine does not allow (e.g. finishing a canceled job)."""

    def __init__(self, job_id: str, current: JobStatus, requested: JobStatus) -> None:
        super().__init__(f"job {job_id}: cannot go from {current} to {requested}")
        self.job_id = job_id
        self.current = current
        self.requested = requested


class QuotaExceededError(Exception):
    """A request over a per-user quota: `quota` names the setting, `retry_after` is seconds to wait."""

    def __init__(self, quota: str, limit: int, retry_after: int) -> None:
        if quota == "QUOTA_JOBS_IN_FLIGHT":
            message = f"You already have {limit} unfinished jobs ({quota}); wait for one to finish."
        else:
            message = f"You reached today's limit of {limit} images ({quota}); it resets at 00:00 UTC."
        super().__init__(message)
        self.quota = quota
        self.limit = limit
        self.retry_after = retry_after


class CasContentionError(RuntimeError):
    """A shared record kept changing under a compare-and-swap for more rounds than any real race needs."""
