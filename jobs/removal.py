"""Removing everything of a deleted job: row (with index and idempotency), blobs, orchestration history.

Shared by the DELETE endpoint and the maintenance timer that finishes what a DELETE could not (its
tombstone in `DeletionLedger` says which jobs those are). Every step is idempotent, so running it
again after a partial failure, or concurrently with the pipeline's own clean-up, is harmless.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from jobs.blobs.outputs import OutputStore
from jobs.contracts import CANCEL_EVENT, job_instance_ids
from jobs.domain.errors import JobNotFoundError
from jobs.tables.deletions import DeletionLedger
from jobs.tables.store import JobStore

logger = logging.getLogger(__name__)

# The library raises a bare Exception for these answers of the durable HTTP API (v1.7 wording).
_ABSENT_INSTANCE_MARKERS = ("No instance with ID", "is gone")


class Orchestrations(Protocol):
    """The part of DurableOrchestrationClient that cancel and delete use."""

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None: ...

    async def purge_instance_history(self, instance_id: str) -> Any: ...

    async def get_status(self, instance_id: str) -> Any: ...


async def signal_cancel(client: Orchestrations, job_id: str) -> None:
    """Tell a running orchestration to stop.

    An instance not started yet (or already gone) needs no event: the orchestrator reads the row's
    cancel request when it starts, and a finished one has nothing left to stop.
    """
    try:
        await client.raise_event(job_id, CANCEL_EVENT, None)
    except Exception as exc:
        if not any(marker in str(exc) for marker in _ABSENT_INSTANCE_MARKERS):
            raise
        logger.info("job %s: no live orchestration to signal; the cancel request is on the row", job_id)


async def instance_running(client: Orchestrations, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    runtime = getattr(status, "runtime_status", None) if status is not None else None
    return runtime is not None and runtime.value in ("Pending", "Running", "ContinuedAsNew", "Suspended")


@dataclass
class Removal:
    """What one pass removed, and what it had to leave (for the next pass)."""

    blobs: int = 0
    histories: int = 0
    left: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.left


@dataclass(frozen=True)
class JobRemover:
    """The stores and the durable client a removal needs."""

    jobs: JobStore
    outputs: OutputStore
    deletions: DeletionLedger
    client: Orchestrations

    async def remove(self, job_id: str) -> Removal:
        """Remove the row, then the blobs, then the history (row first: an output stored after this
        finds no row and takes its own blobs back). Never raises for what it leaves behind."""
        removal = Removal()
        try:
            with contextlib.suppress(JobNotFoundError):
                await self.jobs.delete(job_id)
            removal.blobs = await self.outputs.delete_job(job_id)
        except Exception as exc:
            logger.warning("job %s: row or blobs not removed yet: %s", job_id, exc)
            removal.left.append("row or blobs")
            return removal
        for instance_id in job_instance_ids(job_id):
            await self._purge(job_id, instance_id, removal)
        return removal

    async def _purge(self, job_id: str, instance_id: str, removal: Removal) -> None:
        try:
            result = await self.client.purge_instance_history(instance_id)
            removal.histories += int(getattr(result, "instances_deleted", 0) or 0)
            return
        except Exception as exc:  # a running instance cannot be purged (412), or the host is away
            logger.info("job %s: history of %s not purged yet: %s", job_id, instance_id, exc)
        removal.left.append(f"orchestration {instance_id}")
        if instance_id == job_id:
            # The row is gone, so the orchestration ends at its next step; the event makes it sooner.
            with contextlib.suppress(Exception):
                await signal_cancel(self.client, job_id)

    async def finish(self, job_id: str) -> Removal:
        """One pass of a deletion and, when nothing is left, its tombstone dropped."""
        removal = await self.remove(job_id)
        if removal.complete:
            await self.deletions.forget(job_id)
        return removal
