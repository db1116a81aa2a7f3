"""The single path every invocation takes, and the set of background invocations to drain at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from devhost import functions
from devhost.functions import FunctionSpec

logger = logging.getLogger(__name__)


class Invoker:
    """Calls functions through `devhost.functions.invoke`, adding the durable client payload when bound."""

    def __init__(self) -> None:
        self._client_payload: Callable[[], str] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def use_durable_client(self, client_payload: Callable[[], str]) -> None:
        self._client_payload = client_payload

    async def __call__(
        self, spec: FunctionSpec, arguments: Mapping[str, Any], *, invocation_id: str | None = None,
        traceparent: str | None = None,
    ) -> Any:
        payload = None
        if spec.durable_client_params and self._client_payload is not None:
            payload = self._client_payload()
        return await functions.invoke(
            spec, arguments, client_payload=payload, invocation_id=invocation_id, traceparent=traceparent
        )

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run background work (queue message, timer tick, admin call) that shutdown waits for."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Invocation failures are logged by `invoke`; this is a failure around it.
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float) -> int:
        """Wait up to `grace` s for background work; cancel what is left and return how many were."""
        pending = set(self._tasks)
        if pending:
            logger.info("waiting up to %.0fs for %d in-flight invocation(s)", grace, len(pending))
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("cancelled %d invocation(s) still running at shutdown", len(pending))
            await asyncio.wait(pending, timeout=2)
        return len(pending)
