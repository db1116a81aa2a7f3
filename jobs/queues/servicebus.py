"""The job queue on Azure Service Bus (the Azure default): message id = job id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.amqp import AmqpMessageBodyType

from jobs.contracts import job_message_body
from jobs.domain.errors import QueueUnavailableError
from jobs.domain.models import Job
from jobs.names import DEFAULT_QUEUE_NAME

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
REDRIVE_BATCH = 50
REDRIVE_WAIT_SECONDS = 5.0


def build_service_bus_message(job: Job) -> ServiceBusMessage:
    """The message for one job; the id lets duplicate detection drop a second send of the same job."""
    return ServiceBusMessage(
        job_message_body(job.id, job.total),
        message_id=job.id,
        application_properties={"kind": job.kind.value, "n": job.n},
        content_type=CONTENT_TYPE,
    )


def _text(value: Any) -> Any:
    # Received application properties come back with bytes keys and bytes string values.
    return value.decode("utf-8") if isinstance(value, bytes) else value


def redrive_copy(received: ServiceBusReceivedMessage) -> ServiceBusMessage:
    """A new message with the dead-lettered one's body, id, properties and content type."""
    if received.body_type is not AmqpMessageBodyType.DATA:
        raise ValueError(f"message {received.message_id} has a {received.body_type} body, not data")
    body = received.body
    data = body if isinstance(body, bytes) else b"".join(_chunks(body))
    properties = {_text(key): _text(value) for key, value in (received.application_properties or {}).items()}
    return ServiceBusMessage(
        data,
        message_id=received.message_id,
        application_properties=properties,
        content_type=received.content_type,
    )


def _chunks(body: Iterable[bytes]) -> Iterable[bytes]:
    return (bytes(chunk) for chunk in body)


class ServiceBusJobQueue:
    """One sender per instance (instances are per event loop), opened on the first send."""

    def __init__(self, client: ServiceBusClient, *, queue_name: str = DEFAULT_QUEUE_NAME) -> None:
        self._client = client
        self._sender: ServiceBusSender | None = None
        self._peeker: ServiceBusReceiver | None = None
        self.queue_name = queue_name

    def _get_sender(self) -> ServiceBusSender:
        if self._sender is None:
            self._sender = self._client.get_queue_sender(queue_name=self.queue_name)
        return self._sender

    async def send(self, job: Job) -> None:
        try:
            await self._get_sender().send_messages(build_service_bus_message(job))
        except (AzureError, OSError, TimeoutError) as exc:
            logger.warning("job %s: Service Bus queue unavailable: %s", job.id, type(exc).__name__)
            raise QueueUnavailableError(f"could not queue job {job.id}") from exc
        # DEBUG: each caller logs the send at INFO (the accept, a replay, a re-drive).
        logger.debug("job %s: queued on Service Bus %s", job.id, self.queue_name)

    async def probe(self) -> None:
        # A peek locks nothing and starts no work: the read-only check the health endpoint needs.
        if self._peeker is None:
            self._peeker = self._client.get_queue_receiver(queue_name=self.queue_name)
        await self._peeker.peek_messages(max_message_count=1)

    async def depth(self) -> None:
        # Reading counts needs the management API; the namespace's ActiveMessages and
        # DeadletteredMessages metrics already carry them (docs/operate.md).
        return None

    async def redrive(self, limit: int = 1000) -> int:
        """Re-send up to `limit` dead-lettered messages (same message id), completing each after."""
        moved = 0
        receiver = self._client.get_queue_receiver(
            queue_name=self.queue_name,
            sub_queue=ServiceBusSubQueue.DEAD_LETTER,
            max_wait_time=REDRIVE_WAIT_SECONDS,
        )
        async with receiver:
            while moved < limit:
                batch = await receiver.receive_messages(
                    max_message_count=min(REDRIVE_BATCH, limit - moved), max_wait_time=REDRIVE_WAIT_SECONDS
                )
                if not batch:
                    break
                for message in batch:
                    try:
                        copy = redrive_copy(message)
                    except ValueError as exc:
                        # Not ours to re-send; it stays locked for this run and dead-lettered after.
                        logger.warning("dead-lettered message left in place: %s", exc)
                        continue
                    # Send first: a crash between the two leaves a duplicate, never a loss.
                    await self._get_sender().send_messages(copy)
                    await receiver.complete_message(message)
                    moved += 1
                    logger.info("job %s: dead-lettered message re-sent", message.message_id)
        logger.info("redrove %d dead-lettered messages on %s", moved, self.queue_name)
        return moved

    async def close(self) -> None:
        links = [link for link in (self._sender, self._peeker) if link is not None]
        self._sender = self._peeker = None
        await asyncio.gather(*(link.close() for link in links))
        await self._client.close()
