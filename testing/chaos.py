"""The chaos world: the product app on devhost, an Azurite of its own on disk, and a fake provider,
plus the faults the suite inflicts on them (shared by tests/chaos and bench/soak.py; what a run must
end with is counted in `chaos_audit`).

Faults come one after another in a seeded random order, each kind at least once per round:
`devhost` (SIGKILL, then a restart on the same port), `azurite` (stopped for 10-60 s, then started
again on the same ports and folder, so its data survives), `provider` (a window of 500s, 429s with
retry-after, or calls that hang and end in a gateway's 504). Jobs are submitted the whole time,
retried by the client (same Idempotency-Key) when the API is down or answers 503.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from devhost.azurite import Azurite, start_azurite
from testing.devhost import DevhostProcess, free_port
from testing.fakes.fault_windows import KINDS
from testing.fakes.openai_server import FakeOpenAI
from testing.http import call
from testing.operator import MASTER_KEY
from testing.product_app import REPO_ROOT, product_settings

logger = logging.getLogger(__name__)

FAULT_KINDS = ("devhost", "azurite", "provider")
HEADERS = {"x-functions-key": MASTER_KEY}
SUBMIT_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULT_KINDS
    seconds: float  # how long it lasts (a devhost restart takes what it takes)
    variant: str = ""  # the provider's misbehaviour

    def describe(self) -> str:
        detail = f" {self.variant}" if self.variant else ""
        return f"{self.kind}{detail} {self.seconds:.0f}s"


@dataclass(frozen=True)
class ChaosPlan:
    """A round of faults and the gaps around them, all drawn from one seed."""

    seed: int
    faults: tuple[Fault, ...]
    gap_seconds: float

    @classmethod
    def draw(cls, seed: int, *, azurite_outage: tuple[float, float] = (10.0, 60.0),
             provider_window: tuple[float, float] = (10.0, 30.0), gap_seconds: float = 4.0) -> ChaosPlan:
        rng = random.Random(seed)
        kinds = list(FAULT_KINDS)
        rng.shuffle(kinds)
        faults = []
        for kind in kinds:
            if kind == "azurite":
                faults.append(Fault(kind, round(rng.uniform(*azurite_outage), 1)))
            elif kind == "provider":
                faults.append(Fault(kind, round(rng.uniform(*provider_window), 1), rng.choice(KINDS)))
            else:
                faults.append(Fault(kind, 0.0))
        return cls(seed, tuple(faults), gap_seconds)

    @property
    def planned_seconds(self) -> float:
        """Roughly how long the round lasts (a devhost restart counted as a few seconds)."""
        return sum(fault.seconds or 5.0 for fault in self.faults) + self.gap_seconds * (len(self.faults) + 1)

    def describe(self) -> str:
        return ", ".join(fault.describe() for fault in self.faults)


@dataclass
class Submissions:
    """Jobs accepted so far (index -> job id) and how often the client had to try again."""

    job_ids: dict[int, str] = field(default_factory=dict)
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ChaosWorld:
    """Azurite (own ports, on disk), the fake provider and devhost running the product app."""

    def __init__(self, workdir: Path, *, outputs: int = 2, provider_latency: float = 1.0) -> None:
        self.workdir = workdir
        self.outputs = outputs
        self.ports = (free_port(), free_port(), free_port())
        self.azurite: Azurite | None = None
        self.provider = FakeOpenAI()
        self.provider.windows.latency = provider_latency
        self.app: DevhostProcess | None = None
        self.settings: dict[str, str] = {}
        self.run_id = uuid.uuid4().hex[:8]

    # ---- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> ChaosWorld:
        self.azurite = start_azurite(str(self.workdir / "azurite"), ports=self.ports)
        self.provider.start()
        self.settings = product_settings(
            self.azurite.connection_string, GENERATION_PROVIDER="openai",
            OPENAI_API_KEY=self.provider.api_key, OPENAI_BASE_URL=self.provider.base_url,
            DEVHOST_MASTER_KEY=MASTER_KEY,
        )
        self.app = DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=self.settings)
        self.app.start()
        self.app.wait_ready(timeout=60)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.app is not None:
            self.app.stop()
        self.provider.stop()
        if self.azurite is not None:
            self.azurite.stop()

    @property
    def base_url(self) -> str:
        assert self.app is not None
        return self.app.base_url

    @property
    def connection_string(self) -> str:
        assert self.azurite is not None
        return self.azurite.connection_string

    @property
    def task_hub(self) -> str:
        return self.settings["TASK_HUB_NAME"]

    # ---- faults --------------------------------------------------------------------------
    def inflict(self, fault: Fault) -> None:
        logger.warning("chaos: %s", fault.describe())
        if fault.kind == "devhost":
            assert self.app is not None
            self.app.kill()
            self.app.start()
            self.app.wait_ready(timeout=60)
        elif fault.kind == "azurite":
            assert self.azurite is not None
            self.azurite.stop()
            time.sleep(fault.seconds)
            self.azurite = start_azurite(str(self.workdir / "azurite"), ports=self.ports)
        else:
            self.provider.windows.open(fault.variant, seconds=fault.seconds)
            time.sleep(fault.seconds)

    def run_round(self, plan: ChaosPlan, *, jobs: int, submissions: Submissions,
                  first_index: int = 0, burst: int = 0) -> None:
        """Submit `jobs` jobs while the round's faults happen one after another: `burst` of them at
        once at the start, the rest spread over the round."""
        spacing = plan.planned_seconds / max(jobs - burst, 1)
        times = [0.0] * burst + [n * spacing for n in range(jobs - burst)]
        submitter = threading.Thread(
            target=self._submit_all, args=(range(first_index, first_index + jobs), times, submissions),
            daemon=True)
        submitter.start()
        for fault in plan.faults:
            time.sleep(plan.gap_seconds)
            self.inflict(fault)
        time.sleep(plan.gap_seconds)
        submitter.join()

    # ---- the client ----------------------------------------------------------------------
    def _submit_all(self, indexes: range, times: list[float], submissions: Submissions) -> None:
        start = time.monotonic()
        for index, at in zip(indexes, times, strict=True):
            time.sleep(max(0.0, start + at - time.monotonic()))
            job_id = self.submit(index, submissions)
            with submissions.lock:
                submissions.job_ids[index] = job_id

    def submit(self, index: int, submissions: Submissions) -> str:
        """POST until accepted; the same Idempotency-Key every time, so a retry never makes a second job."""
        body = {"prompt": f"chaos job {index}", "n": self.outputs}
        headers = {**HEADERS, "Idempotency-Key": f"chaos-{self.run_id}-{index}"}
        while True:
            try:
                reply = call("POST", f"{self.base_url}/api/generations", json_body=body, headers=headers,
                             timeout=30)
                if reply.status in (200, 202):
                    return str(reply.json()["id"])
                if reply.status < 500:
                    raise AssertionError(f"submit refused: {reply.status} {reply.text}")
            except OSError:
                pass  # devhost down or restarting
            with submissions.lock:
                submissions.retries += 1
            time.sleep(SUBMIT_RETRY_SECONDS)

    def wait_all(self, job_ids: list[str], *, within: float) -> dict[str, dict[str, Any]]:
        """Every job's resource once terminal; a job still unfinished at `within` s is returned as is."""
        deadline = time.monotonic() + within
        final: dict[str, dict[str, Any]] = {}
        for job_id in job_ids:
            final[job_id] = self._wait_one(job_id, deadline)
        return final

    def _wait_one(self, job_id: str, deadline: float) -> dict[str, Any]:
        last: dict[str, Any] = {"id": job_id, "status": "unknown"}
        while time.monotonic() < deadline:
            wait = max(1, min(30, int(deadline - time.monotonic())))
            try:
                reply = call("GET", f"{self.base_url}/api/generations/{job_id}?wait={wait}", headers=HEADERS,
                             timeout=wait + 15)
            except OSError:
                time.sleep(1)
                continue
            if reply.status == 200:
                last = dict(reply.json())
                if last["status"] in ("succeeded", "failed", "canceled"):
                    return last
            else:
                time.sleep(1)
        return last
