"""Durability: orchestrations survive a devhost restart, including a SIGKILL in the middle of one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from testing.devhost import DevhostProcess, wait_for
from testing.durable_engine import drop_task_hub, running_engine
from testing.http import call
from tests.devhost.sample_app.support import SAMPLE_APP, sample_settings

STEPS = 5


def _status(base_url: str, instance_id: str) -> dict | None:
    reply = call("GET", f"{base_url}/runtime/webhooks/durabletask/instances/{instance_id}")
    return reply.json() if reply.body else None


def _log_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_sigkill_in_the_middle_of_an_orchestration(azurite_connection_string: str, tmp_path: Path) -> None:
    settings = sample_settings(azurite_connection_string)
    log = tmp_path / "steps.log"
    instance_id = f"killed-{uuid.uuid4().hex[:8]}"
    host = DevhostProcess(app_dir=SAMPLE_APP, settings=settings).start()
    try:
        host.wait_ready()
        # Step 2 sleeps long enough for the kill to land while it runs, even on a busy machine.
        sleeps = [0.2, 0.2, 2.5, 0.2, 0.2]
        body = json.dumps({"dir": str(tmp_path), "steps": STEPS, "sleep": sleeps}).encode()
        started = call("POST", f"{host.base_url}/api/durable/start/long_steps/{instance_id}", body=body)
        assert started.status == 202, started.body
        # Steps 0 and 1 completed (their results are stored); step 2 is sleeping when the process dies.
        wait_for(lambda: "start 2" in _log_lines(log), timeout=20)
        host.kill()
        assert "end 2" not in _log_lines(log)
        host.start()
        host.wait_ready()
        final = wait_for(lambda: (s := _status(host.base_url, instance_id)) and
                         s["runtimeStatus"] in ("Completed", "Failed") and s, timeout=30)
        assert final["runtimeStatus"] == "Completed", host.output()
        assert final["output"] == list(range(STEPS))
        lines = _log_lines(log)
        starts = Counter(int(line.split()[1]) for line in lines if line.startswith("start"))
        ends = Counter(int(line.split()[1]) for line in lines if line.startswith("end"))
        # No completed activity ran again; the one whose completion was lost ran twice.
        assert ends == {step: 1 for step in range(STEPS)}
        assert starts == {0: 1, 1: 1, 2: 2, 3: 1, 4: 1}
    finally:
        host.kill()
        asyncio.run(drop_task_hub(azurite_connection_string, settings["SAMPLE_TASK_HUB"]))


async def test_durable_timer_and_buffered_event_survive_a_restart(azurite_connection_string: str) -> None:
    hub = "t" + uuid.uuid4().hex[:16]
    async with running_engine(azurite_connection_string, hub) as first:
        sleeper = await first.start("sleeper", 1.0)
        waiter = await first.start("two_events")
        await first.wait(sleeper, lambda body: body["runtimeStatus"] == "Running")
        await first.manage(waiter, "raise", {"name": "data", "data": "kept"})
    async with running_engine(azurite_connection_string, hub) as second:
        await second.manage(waiter, "raise", {"name": "go", "data": 1})
        slept = await second.wait(sleeper)
        assert slept["runtimeStatus"] == "Completed" and slept["output"] >= 1.0
        both = await second.wait(waiter)
        assert both["output"] == {"go": "1", "data": json.dumps("kept")}
    await drop_task_hub(azurite_connection_string, hub)


def _fail_once(real: Callable[..., Awaitable[Any]], *, on_call: int) -> Callable[..., Awaitable[Any]]:
    """A store method that raises on its `on_call`-th call (the write is not made) and works otherwise."""
    calls = 0

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == on_call:
            raise ConnectionError("storage unavailable (injected)")
        return await real(*args, **kwargs)
    return wrapped


# The first activity result is stored by add_messages call 1; the second episode commits with call 2.
@pytest.mark.parametrize(("method", "on_call"), [("commit", 2), ("save_instance", 2), ("add_messages", 1)])
async def test_a_failed_storage_write_is_retried_from_storage(azurite_connection_string: str,
                                                               method: str, on_call: int) -> None:
    hub = "t" + uuid.uuid4().hex[:16]
    async with running_engine(azurite_connection_string, hub) as host:
        store = host.engine.store
        setattr(store, method, _fail_once(getattr(store, method), on_call=on_call))
        instance_id = await host.start("fan_out_fan_in", {"count": 3})
        final = await host.wait(instance_id)
        assert final["runtimeStatus"] == "Completed" and final["output"] == [0, 2, 4]
        _, detailed = await host.status(instance_id, showHistory="true")
        assert detailed is not None
        kinds = [event["EventType"] for event in detailed["historyEvents"]]
        assert kinds.count("TaskScheduled") == 3 and kinds.count("TaskCompleted") == 3
    await drop_task_hub(azurite_connection_string, hub)
