"""Messages and their state survive a SIGKILL of the process hosting the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue

from testing.devhost import REPO_ROOT, free_port
from testing.servicebus import KEY

QUEUE = "durable"
LOCK_SECONDS = 2


class EmulatorProcess:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        config = {
            "UserConfig": {
                "Namespaces": [
                    {
                        "Name": "t",
                        "Queues": [
                            {
                                "Name": QUEUE,
                                "Properties": {"LockDuration": f"PT{LOCK_SECONDS}S", "MaxDeliveryCount": 3},
                            }
                        ],
                    }
                ]
            }
        }
        (workdir / "config.json").write_text(json.dumps(config))
        self.process: subprocess.Popen[str] | None = None
        self.connection_string = ""

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "devhost.servicebus",
            "--port",
            str(self.port),
            "--key",
            KEY,
            "--config",
            str(self.workdir / "config.json"),
            "--data",
            str(self.workdir / "data"),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        self.connection_string = self.process.stdout.readline().strip()
        assert self.connection_string.startswith("Endpoint=sb://"), "the emulator did not start"

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path)
    process.start()
    yield process
    process.kill()


def test_sigkill_loses_no_acknowledged_message_and_keeps_locks_and_dead_letters(
    emulator_process: EmulatorProcess,
) -> None:
    with ServiceBusClient.from_connection_string(emulator_process.connection_string, retry_total=0) as bus:
        with bus.get_queue_sender(QUEUE) as sender:
            sender.send_messages([ServiceBusMessage(f"m{i}", message_id=f"m{i}") for i in range(5)])
        with bus.get_queue_receiver(QUEUE) as receiver:
            first, second = receiver.receive_messages(max_message_count=2, max_wait_time=5)
            receiver.complete_message(first)
            receiver.dead_letter_message(second, reason="kept", error_description="across the kill")
            locked_at = time.monotonic()  # the lock starts after this, whatever the machine's load
            [locked] = receiver.receive_messages(max_message_count=1, max_wait_time=5)
            assert locked.message_id == "m2"
            emulator_process.kill()  # m2 is locked, m3 and m4 wait, m1 is dead-lettered, m0 is gone

    emulator_process.start()
    with ServiceBusClient.from_connection_string(emulator_process.connection_string, retry_total=0) as bus:
        with bus.get_queue_receiver(QUEUE) as receiver:
            waiting = receiver.receive_messages(max_message_count=2, max_wait_time=5)
            assert [m.message_id for m in waiting] == ["m3", "m4"]  # m2 is still locked
            for message in waiting:
                receiver.complete_message(message)
            [again] = receiver.receive_messages(max_message_count=1, max_wait_time=10)
            assert (again.message_id, again.delivery_count) == ("m2", 1)  # its lock ran out: redelivered
            assert time.monotonic() - locked_at >= LOCK_SECONDS - 0.5
            receiver.complete_message(again)
        with bus.get_queue_receiver(QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dead:
            [message] = dead.receive_messages(max_wait_time=5)
            assert (
                message.message_id,
                message.dead_letter_reason,
                message.dead_letter_error_description,
            ) == ("m1", "kept", "across the kill")
            dead.complete_message(message)
        with bus.get_queue_receiver(QUEUE) as receiver:
            assert receiver.peek_messages(max_message_count=10) == []
