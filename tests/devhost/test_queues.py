"""Storage queue and timer triggers on a running devhost against Azurite, and portal-style invocation."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from azure.storage.queue import QueueClient

from testing.devhost import DevhostProcess, wait_for
from testing.http import call
from tests.devhost.sample_app.support import Results, queue_exists, sample_settings

MAX_DEQUEUE_COUNT = 3  # sample_app/host.json
BATCH_SIZE = 4


@pytest.fixture(scope="module")
def settings(azurite_connection_string: str) -> dict[str, str]:
    return sample_settings(azurite_connection_string, SAMPLE_SCHEDULE="*/2 * * * * *")


def queue(settings: dict[str, str], setting: str, *, suffix: str = "") -> QueueClient:
    return QueueClient.from_connection_string(settings["SAMPLE_STORAGE"], settings[setting] + suffix)


@pytest.fixture(scope="module")
def jobs(settings: dict[str, str], host: DevhostProcess) -> Iterator[QueueClient]:
    """The sample queue, which devhost creates when it is missing."""
    client = queue(settings, "SAMPLE_QUEUE")
    wait_for(lambda: queue_exists(client), timeout=10)
    yield client
    client.delete_queue()


def test_base64_message_is_decoded_and_deleted(jobs: QueueClient, results: Results) -> None:
    sent = jobs.send_message(base64.b64encode(b"hello from base64").decode())
    [record] = results.wait_for(function="record_message", id=sent.id)
    assert record["text"] == "hello from base64"
    assert record["dequeue_count"] == 1
    assert record["has_times"] is True
    wait_for(lambda: jobs.get_queue_properties().approximate_message_count == 0, timeout=10)


def test_plain_text_message_is_handed_over_as_is(jobs: QueueClient, results: Results) -> None:
    sent = jobs.send_message('{"job_id": "plain text, not base64"}')
    [record] = results.wait_for(function="record_message", id=sent.id)
    assert json.loads(record["text"]) == {"job_id": "plain text, not base64"}


def test_binary_body_survives_decoding(jobs: QueueClient, results: Results) -> None:
    sent = jobs.send_message(base64.b64encode(b"\xff\x00\xfe").decode())
    [record] = results.wait_for(function="record_message", id=sent.id)
    assert base64.b64decode(record["base64"]) == b"\xff\x00\xfe"


def test_failing_message_is_retried_then_moved_to_poison(
    settings: dict[str, str], host: DevhostProcess, results: Results,
) -> None:
    failing = queue(settings, "SAMPLE_FAIL_QUEUE")
    wait_for(lambda: queue_exists(failing), timeout=10)
    content = base64.b64encode(b"doomed").decode()
    sent = failing.send_message(content)
    attempts = results.wait_for(MAX_DEQUEUE_COUNT, function="always_fails", id=sent.id)
    assert sorted(r["dequeue_count"] for r in attempts) == [1, 2, 3]
    poison = queue(settings, "SAMPLE_FAIL_QUEUE", suffix="-poison")
    wait_for(lambda: queue_exists(poison) and poison.peek_messages(max_messages=1), timeout=10)
    [moved] = poison.peek_messages(max_messages=32)
    assert moved.content == content
    assert failing.peek_messages(max_messages=1) == []
    assert f"moved to '{poison.queue_name}' after 3 dequeue(s)" in host.output()
    for client in (failing, poison):
        client.delete_queue()


def test_batch_runs_concurrently_and_str_parameter_gets_decoded_text(
    settings: dict[str, str], host: DevhostProcess, results: Results,
) -> None:
    slow = queue(settings, "SAMPLE_SLOW_QUEUE")
    wait_for(lambda: queue_exists(slow), timeout=10)
    texts = [f"décodé {index}" for index in range(BATCH_SIZE)]
    for text in texts:
        slow.send_message(base64.b64encode(text.encode()).decode())
    finished = results.wait_for(BATCH_SIZE, function="slow_message", phase="finished")
    assert sorted(r["text"] for r in finished) == texts
    # Each run takes 2 s: run one after another, a run would finish before the next one started.
    phases = [r["phase"] for r in results.seen if r["function"] == "slow_message"]
    assert phases[:BATCH_SIZE] == ["started"] * BATCH_SIZE
    slow.delete_queue()


def test_timer_runs_on_startup(host: DevhostProcess, results: Results) -> None:
    [startup] = results.wait_for(function="yearly_timer")
    assert startup["past_due"] is False


def test_timer_fires_on_its_schedule(host: DevhostProcess, results: Results) -> None:
    results.wait_for(2, function="configured_timer", timeout=15)
    assert "configured_timer: timerTrigger (schedule '*/2 * * * * *' UTC)" in host.output()


def test_admin_invocation_of_a_queue_function(host: DevhostProcess, results: Results) -> None:
    body = json.dumps({"input": "typed in the portal"}).encode()
    assert call("POST", f"{host.base_url}/admin/functions/record_message", body=body).status == 202
    [record] = results.wait_for(function="record_message", text="typed in the portal")
    assert record["dequeue_count"] == 1


def test_admin_invocation_of_a_timer_function(host: DevhostProcess, results: Results) -> None:
    results.wait_for(function="yearly_timer")
    assert call("POST", f"{host.base_url}/admin/functions/yearly_timer", body=b'{"input": ""}').status == 202
    runs = results.wait_for(2, function="yearly_timer")
    assert all(run["past_due"] is False for run in runs)
