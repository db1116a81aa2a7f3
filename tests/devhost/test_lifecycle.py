"""Start-up failures and shutdown: SIGTERM/SIGINT let in-flight work finish and exit 0."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import threading
from pathlib import Path

from azure.storage.queue import QueueClient

from testing.devhost import REPO_ROOT, DevhostProcess, wait_for
from testing.http import Reply, call
from tests.devhost.sample_app.support import SAMPLE_APP, Results, queue_exists, sample_settings


def test_sigterm_lets_in_flight_invocations_finish(azurite_connection_string: str) -> None:
    settings = sample_settings(azurite_connection_string)
    results = Results.open(settings)
    process = DevhostProcess(app_dir=SAMPLE_APP, settings=settings).start()
    try:
        process.wait_ready()
        slow_queue = QueueClient.from_connection_string(
            azurite_connection_string, settings["SAMPLE_SLOW_QUEUE"])
        wait_for(lambda: queue_exists(slow_queue), timeout=10)
        slow_queue.send_message(base64.b64encode(b"in flight").decode())
        replies: list[Reply] = []
        request = threading.Thread(target=lambda: replies.append(
            call("GET", f"{process.base_url}/api/slow?seconds=2")))
        request.start()
        results.wait_for(function="slow_message", phase="started")
        results.wait_for(function="slow", phase="started")
        assert process.stop(timeout=20) == 0
        request.join(timeout=10)
        assert [(r.status, r.body) for r in replies] == [(200, b"slow done")]
        results.wait_for(function="slow_message", phase="finished", text="in flight", timeout=5)
        assert "Executed 'slow_message' (Succeeded" in process.output()
        assert "stopped" in process.output()
        assert slow_queue.peek_messages(max_messages=1) == []
        slow_queue.delete_queue()
    finally:
        process.kill()
        results.delete_queue()


def test_sigint_stops_cleanly(azurite_connection_string: str) -> None:
    process = DevhostProcess(app_dir=SAMPLE_APP, settings=sample_settings(azurite_connection_string)).start()
    try:
        process.wait_ready()
        assert process.process is not None
        process.process.send_signal(signal.SIGINT)
        assert process.process.wait(timeout=20) == 0
        assert "stopped" in process.output()
    finally:
        process.kill()


def test_an_app_that_fails_to_import_exits_with_an_error(tmp_path: Path) -> None:
    (tmp_path / "broken_app.py").write_text("raise ImportError('missing dependency for the sample')\n")
    finished = subprocess.run(
        [sys.executable, "-m", "devhost", "--app", "broken_app", "--app-dir", str(tmp_path), "--port", "0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 1
    assert "cannot load the function app 'broken_app'" in finished.stderr
    assert "missing dependency for the sample" in finished.stderr
