"""Following a job: long waits for one output, Retry-After steps for several, transient faults ridden out."""

from __future__ import annotations

from typing import Any

import pytest

from genclient.api import Answer, ApiError, ServiceError
from genclient.waiting import LONG_WAIT_SECONDS, TRANSIENT_RETRIES, follow


def job(status: str, completed: int = 0, total: int = 1) -> dict[str, Any]:
    return {"id": "j1", "status": status, "progress": {"completed": completed, "total": total}}


class ScriptedClient:
    """Answers `get` from a script of jobs or errors, recording the `wait` each call asked for."""

    def __init__(self, *script: dict[str, Any] | ServiceError, retry_after: float = 1) -> None:
        self.script = list(script)
        self.waits: list[int] = []
        self.retry_after = retry_after

    def get(self, job_id: str, *, wait: int = 0) -> Answer:
        assert job_id == "j1"
        self.waits.append(wait)
        step = self.script.pop(0)
        if isinstance(step, ServiceError):
            raise step
        return Answer(step, self.retry_after)


def run(client: ScriptedClient, first: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[float]]:
    seen: list[str] = []
    slept: list[float] = []
    last = follow(client, first, report=lambda j: seen.append(j["status"]), sleep=slept.append)  # type: ignore[arg-type]
    return last, seen, slept


def test_a_running_single_output_is_held_in_long_waits() -> None:
    client = ScriptedClient(job("running"), job("running"), job("succeeded", 1), retry_after=2)
    last, seen, slept = run(client, job("queued"))
    assert last["status"] == "succeeded"
    assert seen == ["queued", "running", "running", "succeeded"]
    # While queued a plain read after Retry-After (so the start shows), then long waits, no sleeping.
    assert client.waits == [0, LONG_WAIT_SECONDS, LONG_WAIT_SECONDS]
    assert slept == [2]


def test_several_outputs_are_read_every_retry_after_so_progress_shows() -> None:
    client = ScriptedClient(job("running", 1, 3), job("running", 2, 3), job("succeeded", 3, 3), retry_after=2)
    last, seen, slept = run(client, job("queued", 0, 3))
    assert seen == ["queued", "running", "running", "succeeded"]
    assert client.waits == [0, 0, 0]
    assert slept == [2, 2]  # none after the terminal read
    assert last["progress"]["completed"] == 3


def test_a_terminal_job_is_not_read_again() -> None:
    client = ScriptedClient()
    last, seen, _ = run(client, job("canceled"))
    assert (last["status"], seen, client.waits) == ("canceled", ["canceled"], [])


def test_transient_faults_are_retried_a_few_times() -> None:
    client = ScriptedClient(ServiceError("could not reach"), ApiError(503, "busy"), job("succeeded", 1))
    last, _, slept = run(client, job("running"))
    assert last["status"] == "succeeded"
    assert len(slept) == 2


def test_too_many_transient_faults_give_up() -> None:
    client = ScriptedClient(*[ApiError(500, "broken")] * (TRANSIENT_RETRIES + 1))
    with pytest.raises(ApiError, match="broken"):
        run(client, job("running"))


def test_a_refusal_is_not_retried() -> None:
    client = ScriptedClient(ApiError(404, "gone"), job("succeeded"))
    with pytest.raises(ApiError, match="gone"):
        run(client, job("running"))
    assert len(client.waits) == 1
