"""Durable sample functions for devhost's engine tests (registered by function_app.py as `bp`).

Activities that must leave evidence write to files under a directory passed in their input, so the tests
can count runs whether the engine runs in the test process or in a devhost subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)

_file_lock = threading.Lock()
_active: dict[str, int] = {}


def _append(path: Path, line: str) -> None:
    with _file_lock, path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# ---- activities -------------------------------------------------------------------------------------

@bp.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@bp.activity_trigger(input_name="payload")
def flaky(payload: dict[str, Any]) -> str:
    """Fails `failures` times (counted in a file), then succeeds; returns which attempt succeeded."""
    counter = Path(payload["dir"]) / f"flaky-{payload['key']}"
    _append(counter, "attempt")
    attempt = len(counter.read_text(encoding="utf-8").splitlines())
    if attempt <= int(payload["failures"]):
        raise RuntimeError(f"flaky failure {attempt}")
    return f"succeeded on attempt {attempt}"


@bp.activity_trigger(input_name="payload")
async def record_step(payload: dict[str, Any]) -> int:
    """One step of a long orchestration: logs 'start i' and 'end i' around a sleep."""
    log = Path(payload["dir"]) / "steps.log"
    step = int(payload["step"])
    _append(log, f"start {step}")
    await asyncio.sleep(float(payload.get("sleep", 0)))
    _append(log, f"end {step}")
    return step


@bp.activity_trigger(input_name="payload")
async def probe_concurrency(payload: dict[str, Any]) -> int:
    """Tracks how many of these run at once (per directory) and keeps the maximum in `max-concurrency`."""
    key = payload["dir"]
    _active[key] = _active.get(key, 0) + 1
    peak = Path(key) / "max-concurrency"
    seen = int(peak.read_text(encoding="utf-8")) if peak.exists() else 0
    peak.write_text(str(max(seen, _active[key])), encoding="utf-8")
    try:
        await asyncio.sleep(float(payload.get("sleep", 0.2)))
    finally:
        _active[key] -= 1
    return int(payload["index"])


@bp.activity_trigger(input_name="message")
def explode(message: str) -> None:
    raise ValueError(message)


@bp.activity_trigger(input_name="size")
def big_text(size: int) -> str:
    return "\u00e9" * size  # non-ASCII: six characters each once JSON-escaped


# ---- orchestrators ----------------------------------------------------------------------------------

@bp.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    count = int(context.get_input()["count"])
    results = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    return results


@bp.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    payload = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100,
                              max_number_of_attempts=int(payload["attempts"]))
    try:
        result = yield context.call_activity_with_retry("flaky", options, payload)
    except Exception as exc:
        return {"failed": str(exc).split("\n")[0]}
    return {"result": result}


@bp.orchestration_trigger(context_name="context")
def retrying_fan_out(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Several retried activities at once: their failures, retry timers and re-runs interleave."""
    payload = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    tasks = [context.call_activity_with_retry("flaky", options, {"dir": payload["dir"], "key": f"k{i}",
                                                                 "failures": i % 3})
             for i in range(int(payload["count"]))]
    tasks.append(context.call_activity("double", 21))
    return (yield context.task_all(tasks))


@bp.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=float(context.get_input())))
    return (context.current_utc_datetime - started).total_seconds()


@bp.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Waits for event 'approval' or a timeout, whichever comes first."""
    deadline = context.current_utc_datetime + timedelta(seconds=float(context.get_input()))
    timeout = context.create_timer(deadline)
    decision = context.wait_for_external_event("approval")
    winner = yield context.task_any([decision, timeout])
    if winner == decision:
        timeout.cancel()
        return {"approved": decision.result}
    return {"timed_out": True}


@bp.orchestration_trigger(context_name="context")
def cancellable(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Work (a fan-out) raced against a 'cancel' event and a deadline, then one closing activity."""
    payload = context.get_input()
    deadline = context.create_timer(context.current_utc_datetime
                                    + timedelta(seconds=float(payload["deadline"])))
    cancel = context.wait_for_external_event("cancel")
    work = context.task_all([context.call_activity(
        "record_step", {"dir": payload["dir"], "step": step, "sleep": payload["sleep"]})
        for step in range(int(payload["steps"]))])
    winner = yield context.task_any([work, cancel, deadline])
    outcome = "done" if winner == work else "canceled" if winner == cancel else "deadline"
    if not deadline.is_completed:
        deadline.cancel()
    final = yield context.call_activity("double", 1)
    return {"outcome": outcome, "final": final}


@bp.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Waits for 'go' and only then for 'data', so a 'data' raised first must be buffered."""
    go = yield context.wait_for_external_event("go")
    data = yield context.wait_for_external_event("data")
    return {"go": go, "data": data}


@bp.orchestration_trigger(context_name="context")
def stepper(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Shows progress in the custom status, pausing for event 'continue' in the middle."""
    context.set_custom_status({"stage": "waiting"})
    yield context.wait_for_external_event("continue")
    context.set_custom_status({"stage": "done"})
    return "finished"


@bp.orchestration_trigger(context_name="context")
def doomed(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield context.call_activity("double", 1)
    raise ValueError("orchestrator exploded")


@bp.orchestration_trigger(context_name="context")
def activity_failure(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """An activity failure the orchestrator does not catch fails the orchestration."""
    yield context.call_activity("explode", "activity exploded")
    return "unreachable"


@bp.orchestration_trigger(context_name="context")
def big_result(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    try:
        text = yield context.call_activity("big_text", int(context.get_input()))
    except Exception as exc:
        return {"failed": str(exc).split("\n")[0]}
    return {"length": len(text), "intact": set(text) == {"\u00e9"}}


@bp.orchestration_trigger(context_name="context")
def with_child(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Sub-orchestrations are outside what devhost emulates."""
    return (yield context.call_sub_orchestrator("fan_out_fan_in", {"count": 1}))


@bp.orchestration_trigger(context_name="context")
def long_steps(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Runs `steps` record_step activities one after another; the custom status counts finished ones.

    `sleep` is seconds per step, or a list with one entry per step.
    """
    payload = context.get_input()
    sleeps = payload["sleep"] if isinstance(payload["sleep"], list) else [payload["sleep"]] * payload["steps"]
    results = []
    for step in range(int(payload["steps"])):
        results.append((yield context.call_activity(
            "record_step", {"dir": payload["dir"], "step": step, "sleep": sleeps[step]})))
        context.set_custom_status({"done": step + 1})
    return results


@bp.orchestration_trigger(context_name="context")
def crowd(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    payload = context.get_input()
    tasks = [context.call_activity("probe_concurrency", {"dir": payload["dir"], "index": i,
                                                         "sleep": payload.get("sleep", 0.2)})
             for i in range(int(payload["count"]))]
    return (yield context.task_all(tasks))


@bp.orchestration_trigger(context_name="context")
def countdown(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """continue_as_new until the counter reaches zero."""
    remaining = int(context.get_input())
    if remaining <= 0:
        return "liftoff"
    yield context.call_activity("double", remaining)
    context.continue_as_new(remaining - 1)
    return None


# ---- HTTP functions using the durable client --------------------------------------------------------

@bp.route(route="durable/start/{name}/{instance_id}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def durable_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start orchestrator {name} as {instance_id} with the JSON body as input."""
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = req.route_params["instance_id"]
    try:
        await client.start_new(req.route_params["name"], instance_id, payload)
    except Exception as exc:
        return func.HttpResponse(json.dumps({"error": str(exc)}), status_code=409,
                                 mimetype="application/json")
    return client.create_check_status_response(req, instance_id)


@bp.route(route="durable/instances/{instance_id}/{action}", methods=["GET", "POST"])
@bp.durable_client_input(client_name="client")
async def durable_manage(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """status | raise (body {"name", "data"}) | terminate (body {"reason"}) | purge, through the client."""
    instance_id, action = req.route_params["instance_id"], req.route_params["action"]
    body = json.loads(req.get_body() or b"{}")
    answer: Any
    if action == "status":
        status = await client.get_status(instance_id, show_input=True)
        answer = status.to_json() if status else None
    elif action == "raise":
        await client.raise_event(instance_id, body["name"], body.get("data"))
        answer = {"raised": body["name"]}
    elif action == "terminate":
        await client.terminate(instance_id, body.get("reason", "terminated by test"))
        answer = {"terminated": instance_id}
    elif action == "purge":
        answer = {"instancesDeleted": (await client.purge_instance_history(instance_id)).instances_deleted}
    else:
        return func.HttpResponse(status_code=404)
    return func.HttpResponse(json.dumps(answer), mimetype="application/json")
