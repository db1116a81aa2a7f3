"""The durable engine driving the sample orchestrators through the real SDK, on real Azurite.

One engine (activity cap 3) serves the whole module; every test uses its own instance ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from testing.durable_engine import Host, drop_task_hub, running_engine

pytestmark = pytest.mark.asyncio(loop_scope="module")
ACTIVITY_CAP = 3


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def host(azurite_connection_string: str) -> AsyncIterator[Host]:
    hub = "t" + uuid.uuid4().hex[:16]
    async with running_engine(azurite_connection_string, hub, max_activities=ACTIVITY_CAP) as running:
        yield running
    await drop_task_hub(azurite_connection_string, hub)


def history_types(body: dict) -> list[str]:
    return [event["EventType"] for event in body["historyEvents"]]


async def test_fan_out_fan_in_returns_every_result_in_order(host: Host) -> None:
    instance_id = await host.start("fan_out_fan_in", {"count": 8})
    final = await host.wait(instance_id)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == [0, 2, 4, 6, 8, 10, 12, 14]
    _, detailed = await host.status(instance_id, showHistory="true", showHistoryOutput="true")
    assert detailed is not None
    kinds = history_types(detailed)
    assert kinds.count("TaskScheduled") == 8
    assert kinds.count("TaskCompleted") == 8
    assert kinds[:2] == ["OrchestratorStarted", "ExecutionStarted"]
    assert kinds[-1] == "OrchestratorCompleted" and "ExecutionCompleted" in kinds


async def test_retry_succeeds_on_a_later_attempt(host: Host, tmp_path: Path) -> None:
    instance_id = await host.start("retrying", {"dir": str(tmp_path), "key": "a", "failures": 2,
                                                "attempts": 4})
    final = await host.wait(instance_id)
    assert final["output"] == {"result": "succeeded on attempt 3"}
    assert (tmp_path / "flaky-a").read_text().splitlines() == ["attempt"] * 3
    _, detailed = await host.status(instance_id, showHistory="true")
    assert detailed is not None
    kinds = history_types(detailed)
    # Each failed attempt is followed by a retry timer, then the activity is scheduled again.
    assert kinds.count("TaskFailed") == 2 and kinds.count("TimerFired") == 2
    assert kinds.count("TaskScheduled") == 3


async def test_retry_gives_up_after_max_attempts_and_the_orchestrator_sees_the_failure(
        host: Host, tmp_path: Path) -> None:
    instance_id = await host.start("retrying", {"dir": str(tmp_path), "key": "b", "failures": 10,
                                                "attempts": 2})
    final = await host.wait(instance_id)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"]["failed"].startswith("flaky failure 2")
    assert len((tmp_path / "flaky-b").read_text().splitlines()) == 2


async def test_retries_of_parallel_activities_interleave_correctly(host: Host, tmp_path: Path) -> None:
    final = await host.wait(await host.start("retrying_fan_out", {"dir": str(tmp_path), "count": 6}))
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == [f"succeeded on attempt {i % 3 + 1}" for i in range(6)] + [42]
    for i in range(6):
        assert len((tmp_path / f"flaky-k{i}").read_text().splitlines()) == i % 3 + 1


async def test_timer_resumes_the_orchestrator_at_its_fire_time(host: Host) -> None:
    instance_id = await host.start("sleeper", 0.4)
    final = await host.wait(instance_id)
    assert final["runtimeStatus"] == "Completed"
    # current_utc_datetime after the timer comes from the episode the timer started, so it is past fireAt.
    assert final["output"] >= 0.4


async def test_event_beats_timer_in_task_any(host: Host) -> None:
    instance_id = await host.start("approval", 60)
    await host.manage(instance_id, "raise", {"name": "approval", "data": "yes"})
    final = await host.wait(instance_id)
    # As on Azure, the Python client JSON-encodes event data before posting it as JSON.
    assert final["output"] == {"approved": json.dumps("yes")}


async def test_timer_beats_missing_event_in_task_any(host: Host) -> None:
    instance_id = await host.start("approval", 0.3)
    final = await host.wait(instance_id)
    assert final["output"] == {"timed_out": True}


RACES = {  # name: (activity sleep, deadline seconds, raise cancel, expected winner)
    "work": (0.0, 60, False, "done"),
    "cancel": (1.0, 60, True, "canceled"),
    "deadline": (1.0, 0.2, False, "deadline"),
}


@pytest.mark.parametrize("race", sorted(RACES))
async def test_work_raced_against_cancel_event_and_deadline(host: Host, tmp_path: Path, race: str) -> None:
    sleep, deadline, cancel, outcome = RACES[race]
    instance_id = await host.start("cancellable", {"dir": str(tmp_path), "steps": 2, "sleep": sleep,
                                                   "deadline": deadline})
    if cancel:
        await host.wait(instance_id, lambda body: body["runtimeStatus"] == "Running")
        await host.manage(instance_id, "raise", {"name": "cancel"})
    final = await host.wait(instance_id)
    assert final["output"] == {"outcome": outcome, "final": 2}


async def test_event_raised_before_the_orchestrator_waits_is_buffered(host: Host) -> None:
    instance_id = await host.start("two_events")
    await host.manage(instance_id, "raise", {"name": "data", "data": {"n": 1}})
    await host.wait(instance_id, lambda body: body["runtimeStatus"] == "Running")
    await host.manage(instance_id, "raise", {"name": "go", "data": True})
    final = await host.wait(instance_id)
    assert final["output"] == {"go": "true", "data": json.dumps({"n": 1})}


async def test_raw_json_event_reaches_the_orchestrator_as_is(host: Host) -> None:
    instance_id = await host.start("approval", 60)
    async with host.http.post(f"{host.api}/instances/{instance_id}/raiseEvent/approval",
                              json={"by": "curl"}) as response:
        assert response.status == 202
    final = await host.wait(instance_id)
    assert final["output"] == {"approved": {"by": "curl"}}


async def test_custom_status_is_visible_while_running_and_after(host: Host) -> None:
    instance_id = await host.start("stepper")
    running = await host.wait(instance_id, lambda body: body["customStatus"] == {"stage": "waiting"})
    assert running["runtimeStatus"] == "Running"
    through_client = await host.manage(instance_id, "status")
    assert through_client["customStatus"] == {"stage": "waiting"}
    assert through_client["runtimeStatus"] == "Running"
    await host.manage(instance_id, "raise", {"name": "continue"})
    final = await host.wait(instance_id)
    assert final["customStatus"] == {"stage": "done"} and final["output"] == "finished"


async def test_terminate_stops_the_orchestration_and_its_activities(host: Host, tmp_path: Path) -> None:
    instance_id = await host.start("long_steps", {"dir": str(tmp_path), "steps": 30, "sleep": 0.05})
    await host.wait(instance_id, lambda body: (body["customStatus"] or {}).get("done", 0) >= 2)
    await host.manage(instance_id, "terminate", {"reason": "enough"})
    final = await host.wait(instance_id)
    assert final["runtimeStatus"] == "Terminated" and final["output"] == "enough"
    started = (tmp_path / "steps.log").read_text().count("start")
    assert started < 30
    # A later orchestration of the same kind runs its steps to the end: had the terminated one still
    # been scheduled, its next step would have run meanwhile.
    later = tmp_path / "later"
    later.mkdir()
    await host.wait(await host.start("long_steps", {"dir": str(later), "steps": 3, "sleep": 0.05}))
    assert (later / "steps.log").read_text().count("start") == 3
    assert (tmp_path / "steps.log").read_text().count("start") == started
    with pytest.raises(Exception, match="is gone"):
        await host.manage(instance_id, "raise", {"name": "late"})


async def test_starting_a_running_id_is_refused_and_a_finished_one_is_replaced(host: Host) -> None:
    instance_id = await host.start("stepper")
    await host.wait(instance_id, lambda body: body["runtimeStatus"] == "Running")
    second = await host.call("durable_start", {"name": "fan_out_fan_in", "instance_id": instance_id},
                             {"count": 1})
    assert second.status_code == 409
    assert "already exists" in json.loads(second.get_body())["error"]
    await host.manage(instance_id, "terminate", {"reason": "make room"})
    await host.wait(instance_id)
    await host.start("fan_out_fan_in", {"count": 2}, instance_id=instance_id)
    final = await host.wait(instance_id)
    assert final["name"] == "fan_out_fan_in" and final["output"] == [0, 2]


async def test_check_status_response_points_at_the_status_api(host: Host) -> None:
    instance_id = f"links-{uuid.uuid4().hex[:8]}"
    response = await host.call("durable_start", {"name": "fan_out_fan_in", "instance_id": instance_id},
                               {"count": 1})
    assert response.status_code == 202
    links = json.loads(response.get_body())
    assert links["id"] == instance_id
    assert response.headers["Location"] == links["statusQueryGetUri"]
    assert links["statusQueryGetUri"].startswith(f"{host.api}/instances/{instance_id}?")
    await host.wait(instance_id)
    async with host.http.get(links["statusQueryGetUri"]) as status:
        assert status.status == 200
        assert (await status.json())["output"] == [0]


async def test_purge_deletes_a_finished_instance_only(host: Host) -> None:
    running_id = await host.start("stepper")
    await host.wait(running_id, lambda body: body["runtimeStatus"] == "Running")
    with pytest.raises(Exception, match="412"):
        await host.manage(running_id, "purge")
    finished_id = await host.start("fan_out_fan_in", {"count": 1})
    await host.wait(finished_id)
    assert await host.manage(finished_id, "purge") == {"instancesDeleted": 1}
    assert await host.status(finished_id) == (404, None)
    assert await host.manage(finished_id, "status") is None
    assert await host.manage(finished_id, "purge") == {"instancesDeleted": 0}
    await host.manage(running_id, "terminate", {"reason": "cleanup"})


async def test_orchestrator_exception_fails_the_instance_with_its_message(host: Host) -> None:
    final = await host.wait(await host.start("doomed"))
    assert final["runtimeStatus"] == "Failed"
    assert "orchestrator exploded" in final["output"]


async def test_unhandled_activity_failure_fails_the_orchestration(host: Host) -> None:
    final = await host.wait(await host.start("activity_failure"))
    assert final["runtimeStatus"] == "Failed"
    assert "activity exploded" in final["output"]


async def test_sub_orchestrations_fail_clearly(host: Host) -> None:
    final = await host.wait(await host.start("with_child"))
    assert final["runtimeStatus"] == "Failed"
    assert "CallSubOrchestrator is not supported by devhost" in final["output"]


async def test_activity_concurrency_is_capped(host: Host, tmp_path: Path) -> None:
    final = await host.wait(await host.start("crowd", {"dir": str(tmp_path), "count": 9, "sleep": 0.2}))
    assert final["output"] == list(range(9))
    assert int((tmp_path / "max-concurrency").read_text()) == ACTIVITY_CAP


async def test_continue_as_new_restarts_with_the_new_input(host: Host) -> None:
    final = await host.wait(await host.start("countdown", 3))
    assert final["runtimeStatus"] == "Completed" and final["output"] == "liftoff"
    assert final["input"] == json.dumps(0)


async def test_unknown_orchestrator_is_refused(host: Host) -> None:
    response = await host.call("durable_start", {"name": "no_such_thing", "instance_id": "x"})
    assert response.status_code == 409
    assert "doesn't exist" in json.loads(response.get_body())["error"]


async def test_status_query_filters_by_prefix_and_status(host: Host) -> None:
    prefix = f"query-{uuid.uuid4().hex[:8]}"
    done = await host.start("fan_out_fan_in", {"count": 1}, instance_id=f"{prefix}-done")
    waiting = await host.start("stepper", instance_id=f"{prefix}-waiting")
    await host.wait(done)
    await host.wait(waiting, lambda body: body["runtimeStatus"] == "Running")
    async with host.http.get(f"{host.api}/instances/", params={"instanceIdPrefix": prefix}) as response:
        assert sorted(item["instanceId"] for item in await response.json()) == [done, waiting]
    async with host.http.get(f"{host.api}/instances/", params={
            "instanceIdPrefix": prefix, "runtimeStatus": "Running"}) as response:
        assert [item["instanceId"] for item in await response.json()] == [waiting]
    await host.manage(waiting, "terminate", {"reason": "cleanup"})


async def test_large_activity_results_round_trip_through_the_history(host: Host) -> None:
    # 40,000 characters become 240,000 of escaped JSON: several Table properties, still one entity.
    final = await host.wait(await host.start("big_result", 40_000))
    assert final["output"] == {"length": 40_000, "intact": True}


async def test_an_activity_result_too_large_to_store_fails_the_task(host: Host) -> None:
    final = await host.wait(await host.start("big_result", 60_000))
    assert final["runtimeStatus"] == "Completed"
    assert "devhost stores at most" in final["output"]["failed"]


async def test_instance_ids_table_storage_cannot_hold_are_refused(host: Host) -> None:
    async with host.http.post(f"{host.api}/orchestrators/fan_out_fan_in/bad%23id",
                              json=json.dumps({"count": 1})) as response:
        assert response.status == 400
        assert "does not allow" in (await response.json())["ExceptionMessage"]
