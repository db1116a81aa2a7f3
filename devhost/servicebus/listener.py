"""Service Bus queue triggers: a peek-lock receiver waiting on the link (push, not polling), up to
maxConcurrentCalls invocations at once, locks renewed while they run, complete or abandon after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver
from azure.servicebus.exceptions import ServiceBusError

from devhost.functions import FunctionSpec, message_argument
from devhost.invoker import Invoker
from devhost.servicebus.metadata import to_function_message
from devhost.settings import ServiceBusOptions, SettingMissingError, resolve_references

logger = logging.getLogger(__name__)

RECEIVE_WAIT_SECONDS = 5.0  # how long one receive call holds its credit open on the link
RETRY_SECONDS = 1.0
SHUTDOWN_SETTLE_SECONDS = 5.0  # the host's default shutdown grace


def build_client(setting: str, environ: Mapping[str, str] | None = None) -> ServiceBusClient:
    """The client a trigger's `connection` names: a connection string, or `<name>__fullyQualifiedNamespace`
    with DefaultAzureCredential (as the host's identity-based connections)."""
    source = os.environ if environ is None else environ
    value = source.get(setting, "").strip()
    if value:
        return ServiceBusClient.from_connection_string(value)
    namespace = source.get(f"{setting}__fullyQualifiedNamespace", "").strip()
    if namespace:
        from azure.identity.aio import DefaultAzureCredential  # noqa: PLC0415 - only for identity connections

        client_id = source.get(f"{setting}__clientId") or None
        return ServiceBusClient(namespace, DefaultAzureCredential(managed_identity_client_id=client_id))
    raise SettingMissingError(setting)


class ServiceBusListener:
    """Receives for one function from one queue, as the Functions host's Service Bus listener does."""

    def __init__(self, spec: FunctionSpec, *, options: ServiceBusOptions, invoker: Invoker) -> None:
        """Raises SettingMissingError when the queue name or connection cannot be resolved."""
        self.spec = spec
        self.queue_name = resolve_references(str(spec.trigger["queueName"]))
        self.connection = str(spec.trigger.get("connection") or "AzureWebJobsServiceBus")
        self._client = build_client(self.connection)
        self._options = options
        self._invoke = invoker
        self._stopping = asyncio.Event()
        self._unreachable = False

    def describe(self) -> str:
        return f"serviceBusTrigger (queue '{self.queue_name}')"

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        await self._client.close()

    async def run(self) -> None:
        """maxConcurrentCalls receive loops, each on its own link: at most that many invocations at
        once, and each loop asks for one message only when it can run it (as the host's processor)."""
        loops = range(self._options.max_concurrent_calls)
        await asyncio.gather(*(self._receive_forever(number) for number in loops))

    async def _receive_forever(self, number: int) -> None:
        while not self._stopping.is_set():
            try:
                receiver = self._client.get_queue_receiver(self.queue_name,
                                                           prefetch_count=self._options.prefetch_count)
                async with receiver:
                    await self._receive_loop(receiver)
            except (ServiceBusError, OSError) as exc:
                if not self._unreachable and number == 0:
                    logger.warning("Service Bus queue '%s' unreachable (function '%s'): %s",
                                   self.queue_name, self.spec.name, exc)
                    self._unreachable = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=RETRY_SECONDS)

    async def _receive_loop(self, receiver: ServiceBusReceiver) -> None:
        while not self._stopping.is_set():
            # One message per call: the SDK returns it the moment it arrives (asking for more would
            # wait a further 200 ms for company).
            messages = await receiver.receive_messages(max_message_count=1,
                                                       max_wait_time=RECEIVE_WAIT_SECONDS)
            if self._unreachable and messages:
                logger.info("Service Bus queue '%s' reachable again", self.queue_name)
                self._unreachable = False
            for message in messages:
                # Spawned so that shutdown drains it; shielded so that stopping this loop does not cut it.
                task = self._invoke.spawn(self._process(receiver, message),
                                          name=f"{self.spec.name}:{message.message_id}")
                try:
                    await asyncio.shield(task)
                except asyncio.CancelledError:
                    # Shutdown: the message can only be settled on this link, so keep it open a while
                    # for the invocation to finish (the invoker's drain cancels it later if need be).
                    await asyncio.wait({task}, timeout=SHUTDOWN_SETTLE_SECONDS)
                    raise

    async def _process(self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> None:
        renewing = asyncio.create_task(self._keep_lock(receiver, message))
        try:
            argument = message_argument(self.spec, to_function_message(message))
            await self._invoke(self.spec, {str(self.spec.trigger["name"]): argument})
        except asyncio.CancelledError:
            # Shutdown cut this invocation short: give the message back at once.
            renewing.cancel()
            await asyncio.shield(self._settle(receiver, message, complete=False))
            raise
        except Exception as exc:
            # `invoke` logs the function's own failures; this covers a message it could not convert.
            logger.debug("function '%s' failed on message %s: %r", self.spec.name, message.message_id, exc)
            renewing.cancel()
            await self._settle(receiver, message, complete=False)
        else:
            renewing.cancel()
            await self._settle(receiver, message, complete=True)

    async def _settle(
        self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage, *, complete: bool
    ) -> None:
        if not self._options.auto_complete_messages:
            return
        try:
            if complete:
                await receiver.complete_message(message)
            else:
                await receiver.abandon_message(message)
        except (ServiceBusError, OSError) as exc:
            logger.warning(
                "settling message %s of '%s' failed (it will be delivered again): %s",
                message.message_id,
                self.queue_name,
                exc,
            )

    async def _keep_lock(self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> None:
        """Renew halfway through each lock, up to maxAutoLockRenewalDuration in all."""
        until = time.monotonic() + self._options.max_auto_lock_renewal_duration
        while True:
            locked_until = message.locked_until_utc or datetime.now(UTC)
            left = (locked_until - datetime.now(UTC)).total_seconds()
            await asyncio.sleep(max(left / 2, 0.05))
            if time.monotonic() >= until:
                return
            try:
                await receiver.renew_message_lock(message)
            except (ServiceBusError, OSError) as exc:
                logger.warning("renewing the lock of message %s failed: %s", message.message_id, exc)
                return
