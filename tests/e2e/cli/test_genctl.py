"""`genctl` against the product app on devhost: every command, its output and its exit code."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from testing.devhost import DevhostProcess, free_port
from testing.product_app import REPO_ROOT, product_settings

pytestmark = pytest.mark.e2e
# Slow enough that a job can be cancelled while it runs; fast enough for the suite.
LATENCY_MS = "2000"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def genctl(*args: str, url: str, key: str | None = None, timeout: float = 90) -> Run:
    env = {**os.environ, "GENERATION_API_URL": url, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("GENERATION_API_KEY", None)
    if key is not None:
        env["GENERATION_API_KEY"] = key
    done = subprocess.run([sys.executable, "-m", "genclient", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.strip()


@pytest.fixture(scope="module")
def app(azurite_connection_string: str) -> Iterator[DevhostProcess]:
    settings = product_settings(azurite_connection_string, OFFLINE_LATENCY_MS=LATENCY_MS)
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as process:
        yield process


@pytest.fixture
def user() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def test_submit_wait_saves_the_pictures(app: DevhostProcess, tmp_path: Path, user: str) -> None:
    run = genctl("submit", "a lighthouse at dawn", "--n", "2", "--size", "1536x1024", "--user", user,
                 "-o", str(tmp_path), url=app.base_url)
    assert (run.code, run.err) == (0, ""), run
    files = sorted(tmp_path.iterdir())
    assert [path.suffix for path in files] == [".png", ".png"]
    for path in files:
        with Image.open(path) as picture:
            assert (picture.format, picture.size) == ("PNG", (1536, 1024))
        assert f"saved     {path}" in run.out
    assert "status    succeeded" in run.out and "progress  2/2" in run.out


def test_submit_then_status_wait_and_get_in_json(app: DevhostProcess, tmp_path: Path, user: str) -> None:
    submitted = genctl("submit", "why is the sea salty?", "--kind", "text", "--user", user, "--json",
                       url=app.base_url)
    assert submitted.code == 0, submitted
    job = submitted.json()
    assert (job["status"], job["kind"], job["user"]) == ("queued", "text", user)
    status = genctl("status", job["id"], "--json", url=app.base_url)
    assert status.code == 0 and status.json()["id"] == job["id"]
    waited = genctl("wait", job["id"], "--json", url=app.base_url)
    assert waited.code == 0, waited
    answer = waited.json()["outputs"][0]["text"]
    assert "salty" in answer
    got = genctl("get", job["id"], "-o", str(tmp_path), "--json", url=app.base_url)
    assert got.code == 0, got
    saved = Path(got.json()["files"][0])
    assert saved.read_text(encoding="utf-8") == answer
    human = genctl("status", job["id"], url=app.base_url)
    assert f"output 0  {answer.splitlines()[0]}" in human.out


def test_a_rejected_job_exits_1_with_its_reason(app: DevhostProcess, user: str) -> None:
    run = genctl("submit", "a cat [reject]", "--wait", "--user", user, url=app.base_url)
    assert run.code == 1, run
    line = one_line(run.err)
    assert line.startswith("genctl: job ") and "failed: content_rejected:" in line
    assert "status    failed" in run.out


def test_cancel_then_wait_exits_1(app: DevhostProcess, user: str) -> None:
    job = genctl("submit", "a slow fox", "--n", "4", "--user", user, "--json", url=app.base_url).json()
    cancelled = genctl("cancel", job["id"], url=app.base_url)
    assert cancelled.code == 0, cancelled
    assert cancelled.out.split() in ([job["id"], "canceled"], [job["id"], "running"])
    waited = genctl("wait", job["id"], url=app.base_url)
    assert waited.code == 1, waited
    assert one_line(waited.err) == f"genctl: job {job['id']} canceled: canceled: The job was canceled."
    again = genctl("cancel", job["id"], url=app.base_url)
    assert again.code == 3
    assert one_line(again.err).startswith("genctl: HTTP 409: ")


def test_delete_then_the_job_is_gone(app: DevhostProcess, user: str) -> None:
    job = genctl("submit", "short-lived", "--kind", "text", "--user", user, "--wait", "--json",
                 url=app.base_url).json()
    deleted = genctl("delete", job["id"], url=app.base_url)
    assert (deleted.code, deleted.out) == (0, f"{job['id']}  deleted\n")
    missing = genctl("status", job["id"], url=app.base_url)
    assert missing.code == 3
    assert one_line(missing.err) == f"genctl: HTTP 404: No generation job with id '{job['id']}' exists."


def test_list_pages_with_the_cursor(app: DevhostProcess, user: str) -> None:
    made = [genctl("submit", f"list {n}", "--kind", "text", "--user", user, "--json",
                   url=app.base_url).json()["id"] for n in range(3)]
    first = genctl("list", "--user", user, "--limit", "2", url=app.base_url)
    assert first.code == 0, first
    lines = first.out.splitlines()
    assert [line.split()[0] for line in lines[:2]] == [made[2], made[1]]
    assert lines[2].startswith(f"more: genctl list --user {user} --limit 2 --cursor ")
    cursor = lines[2].rsplit(" ", 1)[1]
    second = genctl("list", "--user", user, "--limit", "2", "--cursor", cursor, "--json", url=app.base_url)
    page = second.json()
    assert [item["id"] for item in page["items"]] == [made[0]]
    assert page["next_cursor"] is None


@pytest.mark.parametrize("args", [
    ("submit", "p", "--n", "7"),
    ("submit", "p", "--kind", "video"),
    ("submit",),
    (),
    ("list", "--limit", "0"),
    ("status", "x", "--base-url", "ftp://example"),
    ("frobnicate",),
])
def test_usage_errors_exit_2_in_one_line_and_send_nothing(app: DevhostProcess, user: str,
                                                          args: tuple[str, ...]) -> None:
    run = genctl(*args, "--user", user, url=app.base_url) if args[:1] == ("submit",) else genctl(
        *args, url=app.base_url)
    assert run.code == 2, run
    assert one_line(run.err).startswith("genctl: usage error: ")
    assert run.out == ""
    assert genctl("list", "--user", user, "--json", url=app.base_url).json()["items"] == []


def test_refused_requests_and_unreachable_services_exit_3(app: DevhostProcess, user: str) -> None:
    invalid = genctl("submit", "x" * 4001, "--user", user, url=app.base_url)
    assert invalid.code == 3
    assert one_line(invalid.err) == (
        "genctl: HTTP 422: The request has invalid fields. (prompt: must be at most 4000 characters)")
    nobody = genctl("list", url=f"http://127.0.0.1:{free_port()}")
    assert nobody.code == 3
    assert one_line(nobody.err).startswith("genctl: could not reach http://127.0.0.1:")


def test_function_keys_from_the_environment(azurite_connection_string: str, tmp_path: Path) -> None:
    key = "dummy-cli-function-key"
    settings = product_settings(azurite_connection_string, DEVHOST_FUNCTION_KEYS=key)
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as keyed:
        refused = genctl("list", url=keyed.base_url)
        assert refused.code == 3
        assert "needs a function key" in one_line(refused.err)
        run = genctl("submit", "a keyed fox", "-o", str(tmp_path), url=keyed.base_url, key=key)
        assert run.code == 0, run
        assert len(list(tmp_path.glob("*.png"))) == 1
        flag = genctl("list", "--key", key, "--limit", "1", url=f"{keyed.base_url}/api/")
        assert flag.code == 0, flag


def test_progress_bar_on_a_terminal(app: DevhostProcess, user: str) -> None:
    """With stderr on a terminal the wait draws a bar of finished outputs (rich)."""
    main, secondary = pty.openpty()
    env = {**os.environ, "GENERATION_API_URL": app.base_url, "PYTHONPATH": str(REPO_ROOT),
           "TERM": "xterm-256color", "COLUMNS": "100"}
    process = subprocess.Popen([sys.executable, "-m", "genclient", "submit", "three foxes", "--n", "3",
                                "--user", user, "--wait"], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=secondary)
    os.close(secondary)
    drawn: list[bytes] = []
    # Read while it runs: a full terminal buffer would otherwise hold the program up.
    reader = threading.Thread(target=_drain, args=(main, drawn), daemon=True)
    reader.start()
    out, _ = process.communicate(timeout=90)
    reader.join(timeout=10)
    os.close(main)
    assert process.returncode == 0
    assert b"status    succeeded" in out
    screen = b"".join(drawn).decode(errors="replace")
    assert "━" in screen  # the bar itself
    assert "/3" in screen and ("running" in screen or "queued" in screen)


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the program closed the terminal
            return
        if not chunk:
            return
        into.append(chunk)


def test_the_console_script_is_installed_by_setup() -> None:
    script = Path(sys.executable).with_name("genctl")
    assert script.exists(), "`make setup` installs the genctl command (pip install --editable .)"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: genctl ")
