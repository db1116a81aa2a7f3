"""What can be shown of a job row that does not parse, so that its status URL still answers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from jobs.domain.models import DEFAULT_SIZE, Channel, Job, JobError, JobKind, JobStatus, Output
from jobs.tables.entities import outputs_from_properties

logger = logging.getLogger(__name__)

T = TypeVar("T")
DAMAGED = JobError("internal", "This job's stored record is damaged; what could be read is shown.")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError("not a datetime")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def salvage_job(job_id: str, entity: Mapping[str, Any]) -> Job:
    """The row read field by field: a field that does not parse gets a neutral value and is logged.

    A row whose status is unreadable is shown as failed with an `internal` error, so that clients
    polling it stop; one whose status reads is shown with it, whatever else is damaged.
    """
    damaged: list[str] = []

    def read(name: str, parse: Callable[[Any], T], default: T) -> T:
        try:
            return parse(entity[name])
        except Exception:
            damaged.append(name)
            return default

    status = read("Status", JobStatus, JobStatus.FAILED)
    outputs: tuple[Output, ...] = read("OutputsChunks", lambda _: outputs_from_properties(entity), ())
    user = entity.get("User")
    job = Job(
        id=job_id,
        status=status,
        kind=read("Kind", JobKind, JobKind.IMAGE),
        prompt=read("Prompt", _text, ""),
        n=read("N", int, max(1, len(outputs))),
        size=read("Size", _text, DEFAULT_SIZE),
        user=user if isinstance(user, str) else None,
        channel=read("Channel", Channel, Channel.API),
        created_at=read("CreatedAt", _moment, _EPOCH),
        updated_at=read("UpdatedAt", _moment, _EPOCH),
        completed=read("Completed", int, 0) if "Completed" in entity else 0,
        outputs=outputs,
        error=DAMAGED if "Status" in damaged else None,
    )
    logger.warning("job %s: stored row is damaged (fields %s); shown as far as it reads",
                   job_id, ", ".join(damaged) or "none")
    return job
