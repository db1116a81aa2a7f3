"""Chaos: jobs of two outputs keep coming while devhost is SIGKILLed, Azurite is stopped for 10-60 s
and the provider misbehaves for a window, in a seeded random order. Every job must succeed with
exactly its outputs, and nothing may be duplicated or orphaned; maintenance finds nothing to repair.

The seed is printed (and named in every failure); replay a run with `CHAOS_SEED=<seed>`. The job
count is `CHAOS_JOBS` (default 100; a round takes two to three minutes on a two-core machine).
`bench/soak.py` repeats rounds for minutes or hours.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from testing.chaos import ChaosPlan, ChaosWorld, Fault, Submissions
from testing.chaos_audit import settle

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

DEFAULT_JOBS = 100
# After the last fault, jobs waiting in back-off (at most 30 s) resume; this bounds the wait for all.
DRAIN_SECONDS = 240
NOTHING_TO_REPAIR = ("redriven=0 failed=0 skipped=0 purged=0 events_purged=0 turns_purged=0 restarted=0 "
                     "deletions_finished=0 reindexed=0 errors=0")


def test_no_job_is_lost_failed_duplicated_or_orphaned_through_every_fault(tmp_path: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 1_000_000))
    jobs = int(os.environ.get("CHAOS_JOBS") or DEFAULT_JOBS)
    print(f"\nchaos seed {seed} (replay: CHAOS_SEED={seed})")
    _run_and_audit(tmp_path, ChaosPlan.draw(seed), jobs=jobs)


def test_a_sixty_second_storage_outage_fails_no_job(tmp_path: Path) -> None:
    # Jobs accepted before, during (the client retrying its 503s) and after a full minute without
    # Table, Blob and Queue storage; the task hub is down as well.
    # Ten jobs arrive at once and each provider call takes 5 s, so outputs are being made (and rows
    # and blobs written) when storage goes four seconds later.
    plan = ChaosPlan(seed=0, faults=(Fault("azurite", 60.0),), gap_seconds=4.0)
    _run_and_audit(tmp_path, plan, jobs=20, burst=10, provider_latency=5.0)


def _run_and_audit(tmp_path: Path, plan: ChaosPlan, *, jobs: int, burst: int = 0,
                   provider_latency: float = 1.0) -> None:
    seed = plan.seed
    print(f"{jobs} jobs; faults: {plan.describe()}")
    started = time.monotonic()
    with ChaosWorld(tmp_path, provider_latency=provider_latency) as world:
        submissions = Submissions()
        world.run_round(plan, jobs=jobs, submissions=submissions, burst=burst)
        end = settle(world, submissions, submitted=jobs, within=DRAIN_SECONDS)
    audit = end.audit
    print(f"chaos seed {seed}: {audit.line()}; client retries {submissions.retries}; provider calls "
          f"{end.provider_calls} (spoiled {end.spoiled_calls}); {time.monotonic() - started:.0f} s")
    print(f"chaos seed {seed}: {end.maintenance}")

    assert audit.clean, f"seed {seed}: {audit.line()}: {audit.details()}"
    assert NOTHING_TO_REPAIR in end.maintenance, f"seed {seed}: maintenance had work left: {end.maintenance}"
