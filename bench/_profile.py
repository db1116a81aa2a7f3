"""CPU time of the devhost process per request, and (with py-spy) how it splits between the app and devhost.

The machine these benches run on is often shared, so wall-clock figures move with the load; CPU time
spent by the devhost process per request does not. `CpuMeter` reads it from /proc (Linux).

`Profiler` samples the devhost process with py-spy (`--nonblocking`: the target is never paused)
while a phase runs and sorts each on-CPU sample into a share (`classify`):

- app: the sample's stack holds a frame of the app's own packages (what Azure runs: the function
  and everything it calls, the SDKs included, and the log records it makes);
- app's SDK calls: SDK or aiohttp client code without an app or devhost frame: tasks the SDK
  calls run in (`asyncio.gather`), responses read off the socket by the event loop, aiohttp's
  proxy look-ups in the thread pool. The app's calls cause them (see `classify`);
- devhost: a frame of `devhost/` or of aiohttp's server (what the Functions host and worker do
  on Azure: HTTP, invocation bookkeeping, the Durable engine, queue listeners);
- event loop: asyncio's own scheduling and selector work, whoever it runs for.

Within each share the sample also gets a category: the innermost frame that matches `CATEGORIES`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_PACKAGES = ("generation", "jobs", "line_webhook", "status", "genclient", "function_app.py")
RATE_HZ = 500

# (substring of a frame, "function (file:line)", category), tried on each frame from the innermost outwards.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("_write_to_self", "thread-pool hand-offs"),
    ("_read_from_self", "thread-pool hand-offs"),
    ("/concurrent/futures/", "thread-pool hand-offs"),
    ("/netrc.py", "aiohttp proxy and netrc look-ups"),
    ("/aiohttp/helpers.py", "aiohttp proxy and netrc look-ups"),
    ("/asyncio/selector_events.py", "socket reads and writes"),
    ("/selectors.py", "selector (waiting for sockets)"),
    ("/logging/", "logging (records, handlers, formatting)"),
    ("/json/", "json"),
    ("/pydantic", "LINE SDK models (pydantic)"),
    ("/linebot/", "LINE SDK"),
    ("/hmac.py", "hashing"),
    ("/hashlib.py", "hashing"),
    ("/opentelemetry/", "OpenTelemetry API"),
    ("/azure/core/pipeline/policies/", "azure-core policies"),
    ("/azure/core/pipeline/transport/", "azure-core transport"),
    ("/aiohttp/web", "aiohttp server"),
    ("/aiohttp/", "aiohttp client"),
    ("/yarl/", "URLs (yarl)"),
    ("/multidict/", "aiohttp client"),
    ("/azure/data/tables/", "Tables SDK (serialization, models)"),
    ("/azure/storage/queue/", "Queue SDK"),
    ("/azure/storage/blob/", "Blob SDK"),
    ("/azure/core/", "azure-core (other)"),
    ("/azure/functions/", "azure-functions types"),
    ("/azure/durable_functions/", "azure-functions-durable"),
    ("/urllib/", "URLs (urllib)"),
    ("/uuid.py", "uuid"),
    ("/email/", "email.utils (dates)"),
    ("/dataclasses.py", "dataclasses"),
    ("/datetime.py", "datetime"),
    ("/asyncio/", "asyncio"),
    ("/devhost/", "devhost's own code"),
    ("<app>", "the app's own code"),
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far, in seconds (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU time `pid` spends between `start()` and `stop()`, in milliseconds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._started = 0.0

    def start(self) -> None:
        self._started = cpu_seconds(self.pid)

    def stop(self) -> float:
        return (cpu_seconds(self.pid) - self._started) * 1000


def _is_app_file(path: str) -> bool:
    try:
        relative = Path(path).resolve().relative_to(REPO_ROOT)
    except ValueError:
        return False
    return relative.parts[0] in APP_PACKAGES if relative.parts else False


def _frame_file(frame: str) -> str:
    # py-spy's raw format: "function (path:line)"
    inner = frame.rsplit(" (", 1)[-1].rstrip(")")
    return inner.rsplit(":", 1)[0]


def _category(frames: list[str], app_flags: list[bool]) -> str:
    for frame, is_app in zip(reversed(frames), reversed(app_flags), strict=True):
        if is_app:
            return "the app's own code"
        for marker, category in CATEGORIES:
            if marker in frame:
                return category
    return "other"


SDK_MARKERS = ("/azure/", "/aiohttp/", "/linebot/", "/pydantic", "/yarl/", "/multidict/", "/netrc.py")
APP = "app"
SDK = "app's SDK calls"
DEVHOST = "devhost"
LOOP = "event loop"
IDLE = "idle"


def _work_start(files: list[str]) -> int | None:
    """Where the work a sample caught begins: below the event loop's callback or the pool's work
    item (0 when neither shows); None for a pool thread waiting for work (py-spy cannot always
    tell an idle thread)."""
    for index in range(len(files) - 1, -1, -1):
        if files[index].endswith(("asyncio/events.py", "concurrent/futures/thread.py")):
            if files[index].endswith("thread.py") and index == len(files) - 1:
                return None  # a pool thread in its work_queue.get()
            return index + 1
    return 0


def classify(stack: list[str]) -> tuple[str, str]:
    """(share, category) of one sampled stack, outermost frame first.

    A task started by `asyncio.gather` or `create_task` has no frame of the code that started it, so
    SDK work with neither an app nor a devhost frame is counted as the app's SDK calls: in a run
    with the pipeline off, devhost's only SDK user is the Durable engine polling its idle task hub
    (`idle_cpu` in the benches measures that).
    """
    files = [_frame_file(frame) for frame in stack]
    start = _work_start(files)
    if start is None:
        return IDLE, ""
    # Without a loop or pool frame (py-spy, not pausing the process, could not read the stack to
    # its bottom) the sample is judged by all its frames but devhost's entry point.
    kept = [i for i in range(start, len(files))
            if start or not files[i].endswith(("devhost/cli.py", "devhost/__main__.py"))]
    own = [files[i] for i in kept]
    app_flags = [_is_app_file(path) for path in own]
    category = _category([stack[i] for i in kept], app_flags)
    if any(app_flags):
        return APP, category
    if any("/devhost/" in path or "/aiohttp/web" in path for path in own):
        return DEVHOST, category
    if any(marker in path for path in own for marker in SDK_MARKERS):
        return SDK, category
    return LOOP, category


@dataclass
class Profile:
    """Samples per (share, category); `ms(...)` turns them into CPU milliseconds."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, stack: list[str], count: int) -> None:
        self.counts[classify(stack)] += count

    def ms(self, share: str | None = None, category: str | None = None) -> float:
        """CPU ms in `share` and `category` (None: all of them but idle)."""
        samples = sum(n for (s, c), n in self.counts.items() if s != IDLE
                      and (share is None or s == share) and (category is None or c == category))
        return samples * 1000 / RATE_HZ

    def shares(self) -> list[str]:
        return sorted({share for share, _ in self.counts if share != IDLE}, key=lambda s: -self.ms(s))

    def categories(self, share: str) -> list[str]:
        found = {category for s, category in self.counts if s == share}
        return sorted(found, key=lambda c: -self.ms(share, c))


def parse_raw(text: str) -> Profile:
    profile = Profile()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            profile.add(stack.split(";"), int(count))
    return profile


class Profiler:
    """py-spy sampling `pid` between `start()` and `stop()`; the raw stacks are kept in `keep_dir`."""

    def __init__(self, pid: int, *, keep_dir: Path) -> None:
        self.pid = pid
        self.keep_dir = keep_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._output: Path | None = None

    @staticmethod
    def executable() -> str | None:
        beside = Path(sys.executable).parent / "py-spy"
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def start(self, label: str) -> None:
        self.keep_dir.mkdir(parents=True, exist_ok=True)
        name = "".join(ch if ch.isalnum() else "-" for ch in label).strip("-")
        self._output = self.keep_dir / f"{name}.txt"
        executable = self.executable()
        if executable is None:
            raise RuntimeError("py-spy is not installed (requirements-dev.txt)")
        self._process = subprocess.Popen(
            [executable, "record", "--pid", str(self.pid), "--rate", str(RATE_HZ), "--nonblocking", "--gil",
             "--format", "raw", "--full-filenames", "-o", str(self._output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attached before the phase starts

    def stop(self) -> Profile:
        assert self._process is not None and self._output is not None
        self._process.send_signal(signal.SIGINT)
        self._process.wait(timeout=30)
        return parse_raw(self._output.read_text() if self._output.exists() else "")


def new_profile_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="bench-profile-"))


def report_cpu(label: str, *, cpu_ms: float, requests: int, profile: Profile | None, top: int = 6) -> None:
    """CPU ms per request of the devhost process, and with a profile its split by share and category.

    The split is the samples' proportions applied to the CPU time /proc measured: py-spy does not
    pause the process, so it cannot always tell a waiting thread from a running one, and its own
    sample count is not a CPU time.
    """
    per_request = cpu_ms / requests
    print(f"  {label}: devhost process CPU {per_request:6.2f} ms/request")
    if profile is None:
        return
    sampled = max(profile.ms(), 1e-9)
    for share in profile.shares():
        part = profile.ms(share) / sampled
        print(f"    {share:<16} {part * per_request:6.2f} ms/request  ({part:4.0%})")
        for category in profile.categories(share)[:top]:
            print(f"      {category:<42} {profile.ms(share, category) / sampled * per_request:6.2f}")
