"""The orchestrator's review step replayed by the real azure-functions-durable SDK on devhost's engine.

Activities are scripted stand-ins under the real names (the activities themselves are tested against
Azurite in test_review_activities.py); the orchestrator, its replay, its timers and its events are real.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest
import pytest_asyncio

from generation import orchestration
from jobs.contracts import CANCEL_EVENT, REVIEW_EVENT
from testing.durable_engine import Host, blueprint_specs, drop_task_hub, running_engine

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Script:
    """What the stand-ins answer for one job (`decision`: what the row says once the event comes)."""

    channel: str = "line"
    review_seconds: float = 600
    decision: str = "approve"
    finalized: list[str] = field(default_factory=list)
    settled: list[bool] = field(default_factory=list)  # timed_out of each settle call
    notices: int = 0
    delivered: int = 0


SCRIPTS: dict[str, Script] = {}


def _build_app() -> dict[str, Any]:
    bp = df.Blueprint()

    @bp.function_name("generation_orchestrator")
    @bp.orchestration_trigger(context_name="context")
    def generation_orchestrator(context: df.DurableOrchestrationContext) -> Any:
        return orchestration.generation_orchestrator(context)

    @bp.function_name("mark_job_running")
    @bp.activity_trigger(input_name="payload")
    def mark_job_running(payload: dict[str, Any]) -> dict[str, Any]:
        script = SCRIPTS[payload["job_id"]]
        deadline_at = (datetime.now(UTC) + timedelta(seconds=600)).isoformat()
        return {"proceed": True, "status": "running", "total": 1, "channel": script.channel,
                "deadline_at": deadline_at, "review": True}

    @bp.function_name("generate_output")
    @bp.activity_trigger(input_name="payload")
    def generate_output(payload: dict[str, Any]) -> dict[str, Any]:
        return {"index": payload["index"], "status": "succeeded", "job_finished": False}

    @bp.function_name("request_review")
    @bp.activity_trigger(input_name="payload")
    def request_review(payload: dict[str, Any]) -> dict[str, Any]:
        script = SCRIPTS[payload["job_id"]]
        expires = datetime.now(UTC) + timedelta(seconds=script.review_seconds)
        return {"held": True, "expires_at": expires.isoformat()}

    @bp.function_name("notify_line_review")
    @bp.activity_trigger(input_name="payload")
    def notify_line_review(payload: dict[str, Any]) -> dict[str, Any]:
        SCRIPTS[payload["job_id"]].notices += 1
        return {"job_id": payload["job_id"], "status": "delivered"}

    @bp.function_name("settle_review")
    @bp.activity_trigger(input_name="payload")
    def settle_review(payload: dict[str, Any]) -> dict[str, Any]:
        script = SCRIPTS[payload["job_id"]]
        script.settled.append(payload["timed_out"])
        decision = "reject" if payload["timed_out"] else script.decision
        return {"decision": decision, "notify": True}

    @bp.function_name("finalize_job")
    @bp.activity_trigger(input_name="payload")
    def finalize_job(payload: dict[str, Any]) -> dict[str, Any]:
        SCRIPTS[payload["job_id"]].finalized.append(payload["outcome"])
        status = {"completed": "succeeded", "canceled": "canceled"}.get(payload["outcome"], "failed")
        return {"status": status, "notify": True}

    @bp.function_name("deliver_line")
    @bp.activity_trigger(input_name="payload")
    def deliver_line(payload: dict[str, Any]) -> None:
        SCRIPTS[payload["job_id"]].delivered += 1

    return blueprint_specs("review_gate_test_app", bp)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def host(azurite_connection_string: str) -> AsyncIterator[Host]:
    hub = "review" + uuid.uuid4().hex[:12]
    specs = _build_app()
    async with running_engine(azurite_connection_string, hub, max_activities=4, specs=specs) as running:
        yield running
    await drop_task_hub(azurite_connection_string, hub)


async def _held(host: Host, script: Script) -> str:
    """Start a job and return its id once the orchestration waits for the review."""
    job_id = str(uuid.uuid4())
    SCRIPTS[job_id] = script
    await host.engine.start_instance("generation_orchestrator", job_id, json.dumps({"outputs": 1}))
    await host.wait(job_id, lambda body: body.get("customStatus") == {"state": "review"})
    return job_id


async def test_an_approved_job_finishes_and_is_delivered_as_usual(host: Host) -> None:
    script = Script(decision="approve")
    job_id = await _held(host, script)
    assert script.finalized == [] and script.delivered == 0, "nothing finishes while the review waits"
    await host.engine.raise_event(job_id, REVIEW_EVENT, json.dumps({"decision": "approve"}))
    final = await host.wait(job_id, within=20)
    assert final["output"] == {"job_id": job_id, "status": "succeeded", "delivered": True}
    assert script.settled == [False] and script.finalized == ["completed"]
    assert script.notices == 1 and script.delivered == 1


async def test_a_rejected_job_fails_without_finalizing_and_its_chat_is_told(host: Host) -> None:
    script = Script(decision="reject")
    job_id = await _held(host, script)
    await host.engine.raise_event(job_id, REVIEW_EVENT, json.dumps({"decision": "reject"}))
    final = await host.wait(job_id, within=20)
    assert final["output"] == {"job_id": job_id, "status": "failed", "delivered": True}
    assert script.settled == [False] and script.finalized == [] and script.delivered == 1


async def test_a_review_nobody_decides_times_out(host: Host) -> None:
    script = Script(review_seconds=1, channel="api")
    job_id = str(uuid.uuid4())
    SCRIPTS[job_id] = script
    await host.engine.start_instance("generation_orchestrator", job_id, json.dumps({"outputs": 1}))
    final = await host.wait(job_id, within=20)
    assert final["output"] == {"job_id": job_id, "status": "failed", "delivered": False}
    assert script.settled == [True] and script.finalized == [] and script.notices == 0


async def test_cancel_ends_the_wait_and_the_job_is_canceled(host: Host) -> None:
    script = Script()
    job_id = await _held(host, script)
    await host.engine.raise_event(job_id, CANCEL_EVENT, json.dumps(None))
    final = await host.wait(job_id, within=20)
    assert final["output"]["status"] == "canceled"
    assert script.settled == [] and script.finalized == ["canceled"]
