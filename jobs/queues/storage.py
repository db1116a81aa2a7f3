"""The job queue on an Azure Storage queue, with its poison queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from jobs.contracts import parse_job_message, storage_message_text
from jobs.domain.errors import QueueUnavailableError
from jobs.domain.models import Job
from jobs.names import DEFAULT_QUEUE_NAME

logger = logging.getLogger(__name__)

# Long enough for one send + delete per message of a redrive batch; a crash mid-way makes the
# message visible again in the poison queue, and a second copy is harmless (instance id = job id).
REDRIVE_VISIBILITY_SECONDS = 60


def poison_queue_name(queue_name: str) -> str:
    """The queue the Functions host moves a Storage queue message to after maxDequeueCount tries."""
    return f"{queue_name}-poison"


class StorageJobQueue:
    """Azure Storage queue; messages are base64 JSON, as host.json's `messageEncoding: base64`."""

    def __init__(self, service: QueueServiceClient, *, queue_name: str = DEFAULT_QUEUE_NAME) -> None:
        # The message text is encoded here, so the clients carry no encode/decode policy and a
        # redrive moves poison messages verbatim.
        self._queue: QueueClient = service.get_queue_client(queue_name)
        self._poison: QueueClient = service.get_queue_client(poison_queue_name(queue_name))
        self.queue_name = queue_name

    async def send(self, job: Job) -> None:
        try:
            await self._send_text(storage_message_text(job.id, job.total))
        except (AzureError, OSError, TimeoutError) as exc:
            logger.warning("job %s: queue %s unavailable: %s", job.id, self.queue_name, type(exc).__name__)
            raise QueueUnavailableError(f"could not queue job {job.id}") from exc
        # DEBUG: each caller logs the send at INFO (the accept, a replay, a re-drive).
        logger.debug("job %s: queued on %s", job.id, self.queue_name)

    async def _send_text(self, text: str) -> None:
        try:
            await self._queue.send_message(text)
        except ResourceNotFoundError:
            # First send in a fresh account: create the queue once, then send again.
            try:
                await self._queue.create_queue()
                logger.info("created queue %s", self.queue_name)
            except ResourceExistsError:
                pass
            await self._queue.send_message(text)

    async def probe(self) -> None:
        # The queue is created on the first send; a "not found" answer still shows the service is up.
        with contextlib.suppress(ResourceNotFoundError):
            await self._queue.get_queue_properties()

    async def depth(self) -> tuple[int, int]:
        counts = []
        for queue in (self._queue, self._poison):
            try:
                counts.append((await queue.get_queue_properties()).approximate_message_count or 0)
            except ResourceNotFoundError:
                counts.append(0)  # created on the first message
        return counts[0], counts[1]

    async def redrive(self, limit: int = 1000) -> int:
        """Move up to `limit` messages from `<queue>-poison` back to the queue (send, then delete)."""
        moved = 0
        if limit < 1:
            return 0
        try:
            messages = self._poison.receive_messages(
                messages_per_page=min(32, limit),
                visibility_timeout=REDRIVE_VISIBILITY_SECONDS,
                max_messages=limit,
            )
            async for message in messages:
                await self._send_text(message.content)
                await self._poison.delete_message(message)
                moved += 1
                logger.info("job %s: poison message re-queued", _job_id_or_unknown(message.content))
        except ResourceNotFoundError:
            pass  # no poison queue: nothing ever failed
        logger.info("redrove %d messages from %s", moved, poison_queue_name(self.queue_name))
        return moved

    async def close(self) -> None:
        await asyncio.gather(self._queue.close(), self._poison.close())


def _job_id_or_unknown(content: str) -> str:
    try:
        return parse_job_message(content)
    except ValueError:
        return "(unparsable message)"
