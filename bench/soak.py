"""Soak: the chaos suite's faults, round after round, for minutes or hours; prints the counts.

Each round draws its faults from its own seed (the run's seed plus the round number): devhost
SIGKILLed and restarted, the run's own Azurite stopped for 10-60 s, the fake provider misbehaving for
a window, in a random order, while jobs of two outputs keep coming. After the last round every job
is awaited and the whole storage account audited: lost, failed, duplicated and orphaned (all should
be 0), then maintenance runs once and must find nothing to repair. Figures are printed, never asserted.

    .venv/bin/python bench/soak.py [--minutes 30] [--jobs-per-round 60] [--seed 1234]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT  # noqa: F401 - puts the repository on sys.path

from testing.chaos import ChaosPlan, ChaosWorld, Submissions
from testing.chaos_audit import settle

DRAIN_SECONDS = 600


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="keep starting rounds for this long")
    parser.add_argument("--jobs-per-round", type=int, default=60)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1, 1_000_000))
    args = parser.parse_args()
    print(f"soak: seed {args.seed}, {args.minutes:g} min, {args.jobs_per_round} jobs per round")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir, ChaosWorld(Path(workdir)) as world:
        submissions = Submissions()
        rounds = 0
        while time.monotonic() - started < args.minutes * 60 or rounds == 0:
            plan = ChaosPlan.draw(args.seed + rounds)
            print(f"round {rounds} (seed {plan.seed}): {plan.describe()}", flush=True)
            world.run_round(plan, jobs=args.jobs_per_round, submissions=submissions,
                            first_index=rounds * args.jobs_per_round)
            rounds += 1
        end = settle(world, submissions, submitted=rounds * args.jobs_per_round, within=DRAIN_SECONDS)
    minutes = (time.monotonic() - started) / 60
    print(f"soak: {rounds} rounds in {minutes:.1f} min; {end.audit.line()}")
    print(f"soak: client retries {submissions.retries}; provider calls {end.provider_calls} "
          f"(spoiled {end.spoiled_calls})")
    print(f"soak: {end.maintenance}")
    if not end.audit.clean:
        print(f"soak: problems: {end.audit.details()}")


if __name__ == "__main__":
    main()
