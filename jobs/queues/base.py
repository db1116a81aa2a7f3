"""The job queue's interface: one message per accepted job, on a Storage queue or on Service Bus."""

from __future__ import annotations

from typing import Protocol

from jobs.domain.models import Job


class JobQueue(Protocol):
    async def send(self, job: Job) -> None:
        """Queue the job for the pipeline; QueueUnavailableError (cause chained) if that fails."""
        ...

    async def probe(self) -> None:
        """A read-only round trip to the queue service (never a message); raises when it does not answer."""
        ...

    async def depth(self) -> tuple[int, int] | None:
        """(messages waiting, messages dead-lettered or poisoned), approximately; None where the
        service publishes these itself (Service Bus's namespace metrics)."""
        ...

    async def redrive(self, limit: int = 1000) -> int:
        """Move messages that failed too often back to the queue; returns how many were moved."""
        ...

    async def close(self) -> None: ...
