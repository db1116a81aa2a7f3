"""`GET /api/health`: cheap, time-boxed, read-only reachability checks of Table, Blob and the job queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import azure.functions as func

from jobs.blobs.outputs import OutputStore
from jobs.domain.errors import OutputNotFoundError
from jobs.http import STORAGE_RETRY_AFTER_SECONDS, json_response
from jobs.services import Services
from jobs.tables.store import JobStore

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 3.0
OK, UNAVAILABLE = "ok", "unavailable"

PROBE_KEY = "health-probe"

Probe = Callable[[], Awaitable[None]]


async def probe_table(jobs: JobStore) -> None:
    """A point read of a key that never exists."""
    await jobs.find(PROBE_KEY)


async def probe_blob(outputs: OutputStore) -> None:
    # A missing blob means the service answered: that is all a probe needs.
    with contextlib.suppress(OutputNotFoundError):
        await outputs.read(f"{PROBE_KEY}/0.png")


async def _state(name: str, probe: Probe, *, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            await probe()
    except Exception as exc:
        # The exception type says enough to start looking; messages may carry URLs.
        logger.warning("health: %s unavailable (%s)", name, type(exc).__name__)
        return UNAVAILABLE
    return OK


async def dependency_states(probes: Mapping[str, Probe], *, seconds: float) -> dict[str, str]:
    """Run every probe concurrently; each is ok or unavailable (failed or slower than `seconds`)."""
    states = await asyncio.gather(*(_state(name, probe, seconds=seconds) for name, probe in probes.items()))
    return dict(zip(probes, states, strict=True))


def health_response(states: Mapping[str, str]) -> func.HttpResponse:
    healthy = all(state == OK for state in states.values())
    body = {"status": OK if healthy else UNAVAILABLE, "dependencies": dict(states)}
    headers = {"Cache-Control": "no-store"}
    if not healthy:
        headers["Retry-After"] = STORAGE_RETRY_AFTER_SECONDS
    return json_response(body, status=200 if healthy else 503, headers=headers)


async def check(
    services: Callable[[], Services], *, seconds: float = PROBE_TIMEOUT_SECONDS
) -> func.HttpResponse:
    """The app's own dependencies. `services` is called inside each probe, so services that cannot
    even be built (bad settings) make every dependency unavailable rather than the check fail."""
    probes: dict[str, Probe] = {
        "table": lambda: probe_table(services().jobs),
        "blob": lambda: probe_blob(services().outputs),
        "queue": lambda: services().queue.probe(),  # noqa: PLW0108 - see above
    }
    return health_response(await dependency_states(probes, seconds=seconds))
