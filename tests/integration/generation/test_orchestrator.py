"""The generation orchestrator replayed by the real azure-functions-durable SDK on devhost's engine.

Activities are scripted stand-ins (registered under the real names) so each test decides what the
provider "did"; the orchestrator, the replay and the task hub in Azurite are the real ones.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest
import pytest_asyncio

from generation import fanout, orchestration
from testing.durable_engine import Host, blueprint_specs, drop_task_hub, running_engine

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Script:
    """What the stand-in activities answer for one job, and what they were asked."""

    total: int = 1
    channel: str = "api"
    proceed: bool = True
    deadline_seconds: int = 600
    notify: bool = True
    crashes: dict[str, int] = field(default_factory=dict)  # activity name -> failures before it works
    answers: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # per index, per attempt
    work_seconds: float = 0.0
    mark_seconds: float = 0.0
    timeline: list[str] = field(default_factory=list)  # "marked" and "generate <index>" in start order
    calls: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    finalized: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    tries: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    waits: list[float] = field(default_factory=list)  # paced: seconds to the first slot, per "not yet"
    retry_waits: int = 0  # paced: how many asks of a retry are answered "not yet"
    slot_gap: float = 0.0  # paced: seconds between the first slots
    asks: list[str] = field(default_factory=list)
    left: list[list[str]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # generate_output's inputs

    def crash_if_scripted(self, name: str) -> None:
        """Raise (as an activity does when storage is down) for the first `crashes[name]` calls."""
        self.tries[name] += 1
        if self.tries[name] <= self.crashes.get(name, 0):
            raise ConnectionError(f"{name}: storage unreachable (try {self.tries[name]})")


SCRIPTS: dict[str, Script] = {}
SUCCEEDED = {"status": "succeeded"}


def _build_app() -> dict[str, Any]:
    bp = df.Blueprint()

    @bp.function_name("generation_orchestrator")
    @bp.orchestration_trigger(context_name="context")
    def generation_orchestrator(context: df.DurableOrchestrationContext) -> Any:
        return orchestration.generation_orchestrator(context)

    @bp.function_name("mark_job_running")
    @bp.activity_trigger(input_name="payload")
    async def mark_job_running(payload: dict[str, Any]) -> dict[str, Any]:
        script = SCRIPTS[payload["job_id"]]
        await asyncio.sleep(script.mark_seconds)
        script.crash_if_scripted("mark_job_running")
        script.timeline.append("marked")
        if not script.proceed:
            return {"proceed": False, "status": "canceled", "notify": True, "channel": script.channel}
        deadline_at = datetime.now(UTC) + timedelta(seconds=script.deadline_seconds)
        return {"proceed": True, "status": "running", "total": script.total, "channel": script.channel,
                "deadline_seconds": script.deadline_seconds, "deadline_at": deadline_at.isoformat()}

    @bp.function_name("generate_output")
    @bp.activity_trigger(input_name="payload")
    async def generate_output(payload: dict[str, Any]) -> dict[str, Any]:
        script = SCRIPTS[payload["job_id"]]
        index = payload["index"]
        attempt = len(script.calls[index])  # the orchestrator sends no attempt number: count the calls
        script.calls[index].append(attempt)
        script.requests.append(payload)
        script.timeline.append(f"generate {index}")
        await asyncio.sleep(script.work_seconds)
        answers = script.answers.get(index, [])
        answer = answers[min(attempt, len(answers) - 1)] if answers else SUCCEEDED
        if answer.get("status") == "crash":
            raise RuntimeError("worker crashed")
        return {"index": index, **answer}

    @bp.function_name("finalize_job")
    @bp.activity_trigger(input_name="payload")
    def finalize_job(payload: dict[str, Any]) -> dict[str, Any]:
        script = SCRIPTS[payload["job_id"]]
        script.crash_if_scripted("finalize_job")
        script.finalized.append(payload)
        status = {"completed": "succeeded", "canceled": "canceled"}.get(payload["outcome"], "failed")
        return {"status": status, "notify": script.notify}

    @bp.function_name("deliver_line")
    @bp.activity_trigger(input_name="payload")
    def deliver_line(payload: dict[str, Any]) -> None:
        SCRIPTS[payload["job_id"]].crash_if_scripted("deliver_line")
        SCRIPTS[payload["job_id"]].delivered.append(payload)

    @bp.function_name("acquire_provider_slots")
    @bp.activity_trigger(input_name="payload")
    def acquire_provider_slots(payload: dict[str, Any]) -> dict[str, Any]:
        script = SCRIPTS[payload["job_id"]]
        now = datetime.now(UTC)
        script.asks.append(payload["entry"].split(":", 1)[1])
        first = payload["entry"].endswith(":start")
        if (script.waits if first else script.retry_waits):
            wait = script.waits.pop(0) if first else 1.0
            script.retry_waits -= 0 if first else 1
            start = (now + timedelta(seconds=wait)).isoformat()
            note = {"reason": "provider_rate_limit", "position": 1, "estimated_start_at": start}
            wake = (now + timedelta(seconds=0.2)).isoformat()
            return {"granted": False, "wake_at": wake, "waiting": note}
        times = [now + timedelta(seconds=i * script.slot_gap) for i in range(payload["count"])]
        return {"granted": True, "times": [moment.isoformat() for moment in times]}

    @bp.function_name("leave_provider_queue")
    @bp.activity_trigger(input_name="payload")
    def leave_provider_queue(payload: dict[str, Any]) -> int:
        SCRIPTS[payload["job_id"]].left.append([e.split(":", 1)[1] for e in payload["entries"]])
        return len(payload["entries"])

    @bp.function_name("notify_line_waiting")
    @bp.activity_trigger(input_name="payload")
    def notify_line_waiting(payload: dict[str, Any]) -> str:
        SCRIPTS[payload["job_id"]].notices.append(payload)
        return "reply"

    return blueprint_specs("orchestrator_test_app", bp)


def _quick_next_attempt(now: datetime, attempt: int, *, seed: str, until: datetime,
                        retry_after: float | None = None) -> datetime | None:
    when = now + timedelta(seconds=0.1 + (retry_after or 0) / 100)
    return when if when < until else None


@pytest.fixture(scope="module", autouse=True)
def quick_retries() -> Any:
    """Retry waits of a tenth of a second: the policy itself is unit-tested; here the flow is."""
    original = fanout.next_attempt_at
    fanout.next_attempt_at = _quick_next_attempt
    yield
    fanout.next_attempt_at = original


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def host(azurite_connection_string: str) -> AsyncIterator[Host]:
    hub = "orch" + uuid.uuid4().hex[:12]
    specs = _build_app()
    async with running_engine(azurite_connection_string, hub, max_activities=8, specs=specs) as running:
        yield running
    await drop_task_hub(azurite_connection_string, hub)


async def _run(host: Host, script: Script, *, until: Any = None, announced: int | None = None,
               plan: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Run one job; `announced` is the output count its queue message carried (the starter's input)."""
    job_id = str(uuid.uuid4())
    SCRIPTS[job_id] = script
    plan = dict(plan or {}, **({} if announced is None else {"outputs": announced}))
    plan = json.dumps(plan) if plan else None
    await host.engine.start_instance("generation_orchestrator", job_id, plan)
    if until is not None:
        await host.wait(job_id, until)
        return job_id, {}
    return job_id, await host.wait(job_id, within=30)


async def test_every_output_succeeds_and_nothing_is_delivered_for_the_api(host: Host) -> None:
    script = Script(total=3)
    _, final = await _run(host, script)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"job_id": final["instanceId"], "status": "succeeded", "delivered": False}
    assert final["customStatus"] == {"state": "succeeded", "completed": 3, "total": 3}
    assert {index: calls for index, calls in script.calls.items()} == {0: [0], 1: [0], 2: [0]}
    assert [(f["outcome"], f["failures"]) for f in script.finalized] == [("completed", {})]
    assert script.delivered == []


async def test_a_permanent_failure_is_not_retried_and_reaches_finalize(host: Host) -> None:
    rejected = {"status": "failed", "error": {"code": "content_rejected", "message": "no"}}
    script = Script(total=2, answers={1: [rejected]})
    await _run(host, script)
    assert script.calls[1] == [0]
    assert script.finalized[0]["failures"] == {"1": rejected["error"]}
    assert script.finalized[0]["outcome"] == "completed"


async def test_transient_failures_are_retried_until_success(host: Host) -> None:
    limited = {"status": "retry", "retry_after": 1.0, "error": {"code": "rate_limited", "message": "slow"}}
    script = Script(total=2, answers={0: [limited, {"status": "crash"}, SUCCEEDED]})
    _, final = await _run(host, script)
    assert script.calls[0] == [0, 1, 2]
    assert script.calls[1] == [0]
    assert script.finalized[0]["failures"] == {}
    assert final["customStatus"]["completed"] == 2


async def test_retries_go_on_until_the_deadline_not_for_a_count(host: Host) -> None:
    down = {"status": "retry", "error": {"code": "provider_unavailable", "message": "down"}}
    script = Script(total=2, answers={0: [down]}, deadline_seconds=2)
    _, final = await _run(host, script)
    assert len(script.calls[0]) > 8, "retried for as long as the deadline allows, not four times"
    assert script.calls[0] == list(range(len(script.calls[0])))
    assert script.calls[1] == [0]
    (finalized,) = script.finalized
    assert finalized["outcome"] == "deadline_exceeded"
    assert finalized["failures"] == {}
    assert finalized["last_errors"] == {"0": down["error"]}, "the deadline says what the provider last did"
    assert final["output"]["status"] == "failed"


async def test_a_crashed_output_is_retried_past_the_old_attempt_count(host: Host) -> None:
    crash = {"status": "crash"}
    script = Script(total=1, answers={0: [crash] * 7 + [SUCCEEDED]})
    _, final = await _run(host, script)
    assert script.calls[0] == list(range(8))
    assert script.finalized[0]["failures"] == {} and script.finalized[0]["last_errors"] == {}
    assert final["output"]["status"] == "succeeded"


async def test_marking_running_finalizing_and_delivering_survive_storage_failures(host: Host) -> None:
    crashes = {"mark_job_running": 3, "finalize_job": 3, "deliver_line": 3}
    script = Script(total=1, channel="line", crashes=crashes)
    job_id, final = await _run(host, script, announced=1)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"job_id": job_id, "status": "succeeded", "delivered": True}
    assert dict(script.tries) == {"mark_job_running": 4, "finalize_job": 4, "deliver_line": 4}
    assert len(script.finalized) == 1 and script.delivered == [{"job_id": job_id}]
    assert script.calls == {0: [0]}, "the output ran once, alongside the first try of the mark"


async def test_marking_that_fails_until_the_deadline_ends_without_touching_the_job(host: Host) -> None:
    script = Script(total=1, crashes={"mark_job_running": 10_000})
    job_id, final = await _run(host, script, plan={"deadline_seconds": 1})
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"job_id": job_id, "status": "deadline_exceeded", "skipped": True,
                               "delivered": False}
    assert script.tries["mark_job_running"] > 3
    assert script.finalized == [] and script.calls == {}


async def test_cancel_event_stops_the_work(host: Host) -> None:
    script = Script(total=2, work_seconds=5)
    job_id, _ = await _run(host, script, until=lambda body: body["runtimeStatus"] == "Running")
    await host.engine.raise_event(job_id, "cancel", json.dumps(None))
    final = await host.wait(job_id, within=10)
    assert final["output"]["status"] == "canceled"
    assert script.finalized[0]["outcome"] == "canceled"


async def test_deadline_ends_a_job_that_takes_too_long(host: Host) -> None:
    script = Script(total=1, work_seconds=5, deadline_seconds=1)
    await _run(host, script)
    assert script.finalized[0]["outcome"] == "deadline_exceeded"


async def test_line_jobs_are_delivered_once_and_only_when_finalize_says_so(host: Host) -> None:
    told = Script(total=1, channel="line")
    job_id, final = await _run(host, told)
    assert told.delivered == [{"job_id": job_id}]
    assert final["output"]["delivered"] is True

    silent = Script(total=1, channel="line", notify=False)
    await _run(host, silent)
    assert silent.delivered == []


async def test_a_job_that_may_not_run_ends_without_work(host: Host) -> None:
    script = Script(proceed=False)
    _, final = await _run(host, script)
    assert final["output"]["skipped"] is True
    assert script.calls == {} and script.finalized == []


async def test_a_line_job_canceled_before_it_ran_is_still_told_to_the_chat(host: Host) -> None:
    script = Script(proceed=False, channel="line")
    job_id, final = await _run(host, script)
    assert final["output"] == {"job_id": job_id, "status": "canceled", "skipped": True, "delivered": True}
    assert script.delivered == [{"job_id": job_id}]
    assert script.calls == {} and script.finalized == []


async def test_announced_outputs_start_together_with_marking_the_job_running(host: Host) -> None:
    script = Script(total=3, mark_seconds=0.5)
    _, final = await _run(host, script, announced=3)
    assert final["output"]["status"] == "succeeded"
    assert sorted(script.timeline[:3]) == ["generate 0", "generate 1", "generate 2"]
    assert script.timeline[3] == "marked"
    assert {index: calls for index, calls in script.calls.items()} == {0: [0], 1: [0], 2: [0]}


async def test_without_an_announced_count_the_outputs_wait_for_the_row(host: Host) -> None:
    # A message from before the count was sent, or an operator starting the orchestrator by hand.
    script = Script(total=2, mark_seconds=0.2)
    _, final = await _run(host, script)
    assert final["output"]["status"] == "succeeded"
    assert script.timeline[0] == "marked"
    assert {index: calls for index, calls in script.calls.items()} == {0: [0], 1: [0]}


async def test_the_row_decides_how_many_outputs_count(host: Host) -> None:
    script = Script(total=1)
    _, final = await _run(host, script, announced=3)
    assert final["customStatus"] == {"state": "succeeded", "completed": 1, "total": 1}
    assert [(f["outcome"], f["failures"]) for f in script.finalized] == [("completed", {})]


async def test_a_job_that_may_not_run_does_not_wait_for_its_announced_outputs(host: Host) -> None:
    script = Script(proceed=False, total=2, work_seconds=5)
    _, final = await _run(host, script, announced=2, until=None)
    assert final["output"]["skipped"] is True
    assert final.get("customStatus") is None  # the early "running" progress is taken back
    assert script.finalized == []


async def test_a_job_finished_by_its_last_output_is_not_finalized_again(host: Host) -> None:
    finishing = {"status": "succeeded", "job_finished": True}
    script = Script(total=2, channel="line", answers={0: [SUCCEEDED], 1: [finishing]},
                    work_seconds=0.1)
    job_id, final = await _run(host, script, announced=2)
    assert final["output"] == {"job_id": job_id, "status": "succeeded", "delivered": True}
    assert final["customStatus"] == {"state": "succeeded", "completed": 2, "total": 2}
    assert script.finalized == []
    assert script.delivered == [{"job_id": job_id}]


async def test_an_output_that_finds_the_job_stopped_ends_the_work_as_canceled(host: Host) -> None:
    script = Script(total=2, answers={0: [{"status": "canceled"}]}, work_seconds=0.1)
    _, final = await _run(host, script, announced=2)
    assert final["output"]["status"] == "canceled"
    assert script.finalized[0]["outcome"] == "canceled"


@pytest.mark.parametrize(("channel", "waits", "told"), [
    ("line", [30.0, 28.0], 1),  # a long wait: told once, not on every ask
    ("line", [5.0, 35.0], 1),  # told once the estimate grows past the threshold
    ("line", [5.0], 0),  # a short wait goes unmentioned
    ("api", [30.0], 0),  # the HTTP API shows its `waiting` note instead
])
async def test_a_paced_job_waiting_long_tells_its_line_chat_once(
    host: Host, channel: str, waits: list[float], told: int
) -> None:
    script = Script(total=2, channel=channel, waits=list(waits))
    _, final = await _run(host, script, plan={"paced": True})
    assert final["output"]["status"] == "succeeded"
    assert len(script.notices) == told
    assert all(set(notice) == {"job_id", "estimated_start_at"} for notice in script.notices)
    # Each output carries its slot: the activity waits the last moments itself.
    assert sorted(request["index"] for request in script.requests) == [0, 1]
    assert all("not_before" in request for request in script.requests)


async def test_a_paced_retry_waiting_in_line_holds_up_no_other_output(host: Host) -> None:
    limited = {"status": "retry", "retry_after": 0.1, "error": {"code": "rate_limited", "message": "429"}}
    # The retry asks nine times, 0.2 s apart: it is still in line when output 1's slot (1 s) comes.
    script = Script(total=2, slot_gap=1.0, retry_waits=8, answers={0: [limited, SUCCEEDED]})
    _, final = await _run(host, script, plan={"paced": True})
    assert final["output"]["status"] == "succeeded"
    # Output 1 starts in its slot while output 0's retry is still asking for one.
    assert script.timeline.index("generate 1") < len(script.timeline) - 1
    assert script.timeline[-1] == "generate 0"
    assert script.asks == ["start"] + ["0:1"] * 9
    assert script.left == []


async def test_a_cancel_while_a_retry_waits_in_line_takes_it_out_of_the_line(host: Host) -> None:
    limited = {"status": "retry", "retry_after": 0.1, "error": {"code": "rate_limited", "message": "429"}}
    script = Script(total=1, retry_waits=10_000, answers={0: [limited]})
    job_id, _ = await _run(host, script, plan={"paced": True}, until=lambda status: len(script.asks) >= 3)
    await host.engine.raise_event(job_id, "cancel", json.dumps(None))
    final = await host.wait(job_id, within=30)
    assert final["output"]["status"] == "canceled"
    assert script.left == [["0:1"]]
