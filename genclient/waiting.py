"""Following a job's status URL to a terminal state, with a progress bar on a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from genclient.api import ApiError, GenerationClient, ServiceError

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
LONG_WAIT_SECONDS = 25
TRANSIENT_RETRIES = 3
RETRY_PAUSE_SECONDS = 2.0

Job = dict[str, Any]
Report = Callable[[Job], None]


def _transient(error: ServiceError) -> bool:
    return not isinstance(error, ApiError) or error.status >= 500


def _read(client: GenerationClient, job: Job, *, sleep: Callable[[float], None]) -> tuple[Job, float | None]:
    """One look at the status URL: a long `?wait=` once a single-output job runs, otherwise a plain read
    (so the start and each finished output show). A few transient faults in a row are ridden out."""
    stepwise = job["status"] == "queued" or job["progress"]["total"] > 1
    for attempt in range(TRANSIENT_RETRIES + 1):
        try:
            answer = client.get(job["id"], wait=0 if stepwise else LONG_WAIT_SECONDS)
            return answer.body, answer.retry_after if stepwise else 0
        except ServiceError as error:
            if attempt == TRANSIENT_RETRIES or not _transient(error):
                raise
            sleep(RETRY_PAUSE_SECONDS)
    raise AssertionError("unreachable")


def follow(client: GenerationClient, job: Job, *, report: Report,
           sleep: Callable[[float], None] = time.sleep) -> Job:
    """Read the job until it is terminal, calling `report` with each state seen; returns the last."""
    report(job)
    while job["status"] not in TERMINAL:
        job, pause = _read(client, job, sleep=sleep)
        report(job)
        if job["status"] not in TERMINAL and pause:
            sleep(pause)
    return job


@contextmanager
def progress_bar(console: Console) -> Iterator[Report]:
    """A bar of finished outputs while waiting; nothing at all when stderr is not a terminal."""
    if not console.is_terminal:
        yield lambda job: None
        return
    columns = (TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("queued", total=None)

        def report(job: Job) -> None:
            done, total = job["progress"]["completed"], job["progress"]["total"]
            progress.update(task, description=job["status"], completed=done, total=total or None)

        yield report
