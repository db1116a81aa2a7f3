"""Storage queue triggers: poll with back-off, run up to batchSize messages at once, retry, poison."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.functions.queue import QueueMessage as WorkerQueueMessage
from azure.storage.queue import QueueMessage as StorageMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.functions import FunctionSpec, message_argument
from devhost.invoker import Invoker
from devhost.settings import QueueOptions, resolve_references, sdk_client_options, storage_connection_string

logger = logging.getLogger(__name__)

MIN_POLL_DELAY = 0.1
# A short lease, renewed while the function runs, so a killed host's messages come back quickly.
LEASE_SECONDS = 30
RENEW_EVERY = 10.0
MAX_PER_RECEIVE = 32  # the Storage queue service limit


def decode_body(content: str, encoding: str) -> bytes:
    """Message bytes per host.json `messageEncoding`; text that is not base64 is handed over as is."""
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            pass
    return content.encode("utf-8")


def adhoc_message(text: str) -> func.QueueMessage:
    """A message for a portal-style invocation: never came from a queue, dequeued once."""
    now = datetime.now(UTC)
    return WorkerQueueMessage(  # type: ignore[no-untyped-call]
        id=str(uuid.uuid4()), body=text.encode("utf-8"), dequeue_count=1,
        insertion_time=now, expiration_time=now + timedelta(days=7), time_next_visible=now, pop_receipt=None,
    )


class QueueListener:
    """Listens to one queue for one function, as the Functions host's queue listener does."""

    def __init__(self, spec: FunctionSpec, *, options: QueueOptions, invoker: Invoker,
                 services: dict[str, QueueServiceClient]) -> None:
        """Raises SettingMissingError/ValueError when the queue name or connection cannot be resolved."""
        self.spec = spec
        self.queue_name = resolve_references(str(spec.trigger["queueName"]))
        connection = storage_connection_string(spec.trigger.get("connection"))
        if connection not in services:
            services[connection] = QueueServiceClient.from_connection_string(
                connection, **sdk_client_options())
        self._queue = services[connection].get_queue_client(self.queue_name)
        self._poison = services[connection].get_queue_client(f"{self.queue_name}-poison")
        self._options = options
        self._invoke = invoker
        self._active: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._created = False
        self._unreachable = False

    def describe(self) -> str:
        return f"queueTrigger (queue '{self.queue_name}')"

    def stop(self) -> None:
        """Stop fetching; messages already fetched keep running (the invoker drains them)."""
        self._stopping.set()
        self._slot_freed.set()

    async def run(self) -> None:
        delay = MIN_POLL_DELAY
        while not self._stopping.is_set():
            await self._wait_for_capacity()
            messages = await self._receive() if not self._stopping.is_set() else []
            for message in messages:
                self._start(message)
            if messages:
                delay = MIN_POLL_DELAY
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            delay = min(delay * 2, max(self._options.max_polling_interval, MIN_POLL_DELAY))

    async def _receive(self) -> list[StorageMessage]:
        wanted = min(self._options.batch_size - len(self._active), MAX_PER_RECEIVE)
        try:
            if not self._created:
                await _create_if_missing(self._queue)
                self._created = True
            messages = await self._receive_once(wanted)
        except AzureError as exc:
            # Storage down: say so once, keep polling at the slowest pace until it answers.
            if not self._unreachable:
                logger.warning("queue '%s' unreachable (function '%s'): %s",
                               self.queue_name, self.spec.name, exc)
            self._unreachable = True
            return []
        if self._unreachable:
            logger.info("queue '%s' reachable again", self.queue_name)
            self._unreachable = False
        return messages

    async def _receive_once(self, wanted: int) -> list[StorageMessage]:
        """One Get Messages call, as the host makes per poll (iterating the SDK's pager to its end
        would ask once more just to learn that nothing else is there)."""
        pages = self._queue.receive_messages(messages_per_page=wanted, visibility_timeout=LEASE_SECONDS)
        async for page in pages.by_page():
            return [message async for message in page]
        return []

    async def _wait_for_capacity(self) -> None:
        # As the host does: fetch a new batch once the running ones drop to newBatchThreshold
        # (and never hold more than batchSize at once).
        threshold = min(self._options.new_batch_threshold, self._options.batch_size - 1)
        while len(self._active) > threshold and not self._stopping.is_set():
            self._slot_freed.clear()
            await self._slot_freed.wait()

    def _start(self, message: StorageMessage) -> None:
        task = self._invoke.spawn(self._process(message), name=f"{self.spec.name}:{message.id}")
        self._active.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._active.discard(task)
        self._slot_freed.set()

    async def _process(self, message: StorageMessage) -> None:
        if message.dequeue_count is not None and message.dequeue_count > self._options.max_dequeue_count:
            await self._move_to_poison(message, message.pop_receipt)
            return
        lease = _Lease(self._queue, message)
        renewing = asyncio.create_task(lease.keep())
        try:
            await self._invoke(self.spec, {str(self.spec.trigger["name"]): self._argument(message)})
        except asyncio.CancelledError:
            # Shutdown cut this invocation short: make the message visible again at once.
            await asyncio.shield(lease.end(renewing, visibility_timeout=0))
            raise
        except Exception:
            await lease.end(renewing)
            await self._after_failure(message, lease)
            return
        await lease.end(renewing)
        await lease.delete()

    async def _after_failure(self, message: StorageMessage, lease: _Lease) -> None:
        if (message.dequeue_count or 0) >= self._options.max_dequeue_count:
            await self._move_to_poison(message, lease.pop_receipt)
        else:
            await lease.release(int(self._options.visibility_timeout))

    def _argument(self, message: StorageMessage) -> Any:
        body = decode_body(str(message.content or ""), self._options.message_encoding)
        converted = WorkerQueueMessage(  # type: ignore[no-untyped-call]
            id=message.id, body=body, dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on, expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on, pop_receipt=message.pop_receipt,
        )
        return message_argument(self.spec, converted)

    async def _move_to_poison(self, message: StorageMessage, pop_receipt: str | None) -> None:
        try:
            await _create_if_missing(self._poison)
            await self._poison.send_message(message.content)
            await self._queue.delete_message(message.id, pop_receipt)
        except AzureError as exc:
            logger.error("moving message %s to '%s' failed: %s", message.id, self._poison.queue_name, exc)
            return
        logger.warning("message %s of queue '%s' moved to '%s' after %s dequeue(s) (function '%s')",
                       message.id, self.queue_name, self._poison.queue_name, message.dequeue_count,
                       self.spec.name)


class _Lease:
    """Keeps a received message invisible while its function runs; tracks the latest pop receipt."""

    def __init__(self, queue: QueueClient, message: StorageMessage) -> None:
        self._queue = queue
        self._id = message.id
        self.pop_receipt = message.pop_receipt
        self._done = asyncio.Event()

    async def keep(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), timeout=RENEW_EVERY)
            if not self._done.is_set():
                await self.release(LEASE_SECONDS)

    async def end(self, renewing: asyncio.Task[None], *, visibility_timeout: int | None = None) -> None:
        """Stop renewing (letting a renewal in progress finish, so the pop receipt stays current)."""
        self._done.set()
        await renewing
        if visibility_timeout is not None:
            await self.release(visibility_timeout)

    async def release(self, visibility_timeout: int) -> None:
        """Set when the message becomes visible again (0: now)."""
        try:
            updated = await self._queue.update_message(
                self._id, self.pop_receipt, visibility_timeout=visibility_timeout)
        except AzureError as exc:
            logger.warning("updating visibility of message %s failed: %s", self._id, exc)
            return
        self.pop_receipt = updated.pop_receipt

    async def delete(self) -> None:
        try:
            await self._queue.delete_message(self._id, self.pop_receipt)
        except AzureError as exc:
            logger.warning("deleting message %s failed (it will be delivered again): %s", self._id, exc)


async def _create_if_missing(queue: QueueClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        await queue.create_queue()
