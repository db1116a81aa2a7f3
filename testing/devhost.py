"""Run devhost as a subprocess for tests: `with DevhostProcess(app_dir=..., settings={...}) as host: ...`."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from testing.http import call

REPO_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], T], timeout: float = 20, interval: float = 0.1) -> T:
    """Call `predicate` until it returns something truthy (returned); TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout:.0f}s")
        time.sleep(interval)


class DevhostProcess:
    """`python -m devhost` in a subprocess with the given settings written to a temporary settings file."""

    def __init__(self, *, app: str = "function_app", app_dir: Path, settings: dict[str, str],
                 port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.app = app
        self.app_dir = Path(app_dir).resolve()
        self.settings = dict(settings)
        self.port = port or free_port()
        self.env = dict(env or {})
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._earlier_output = ""  # logs of earlier runs when the same object is started again

    def start(self) -> DevhostProcess:
        """Spawn devhost (again, on the same port, after stop() or kill())."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("devhost is already running")
        self._workdir = Path(tempfile.mkdtemp(prefix="devhost-test-"))
        settings_file = self._workdir / "local.settings.json"
        document = {"IsEncrypted": False, "Values": self.settings}
        settings_file.write_text(json.dumps(document), encoding="utf-8")
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(REPO_ROOT), str(self.app_dir), env.get("PYTHONPATH", "")) if part)
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "devhost", "--port", str(self.port), "--app", self.app,
                   "--app-dir", str(self.app_dir), "--settings", str(settings_file)]
        with (self._workdir / "devhost.log").open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.app_dir, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        """Poll GET /admin/host/status until it answers 200; raise with the log if devhost exits or hangs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"devhost exited (code {code}) before it was ready:\n{self.output()}")
            try:
                if call("GET", f"{self.base_url}/admin/host/status", timeout=2).status == 200:
                    return
            except (OSError, http.client.HTTPException):  # not listening yet, or cut off mid-answer
                pass
            time.sleep(0.1)
        raise TimeoutError(f"devhost was not ready within {timeout:.0f}s:\n{self.output()}")

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM and wait; a process that does not exit in time is killed. Returns the exit code."""
        if self.process is None:
            raise RuntimeError("devhost was not started")
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._finish()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._finish()

    def output(self) -> str:
        """Everything devhost logged so far (stdout and stderr), earlier runs of this object included."""
        if self._workdir is None:
            return self._earlier_output
        current = (self._workdir / "devhost.log").read_text(encoding="utf-8", errors="replace")
        return self._earlier_output + current

    def _finish(self) -> None:
        if self._workdir is not None:
            self._earlier_output = self.output()
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> DevhostProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
