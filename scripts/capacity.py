"""Capacity and cost on paper: what bounds throughput on Azure, and what 1,000 images cost, at three scales.

`python scripts/capacity.py` prints the table that docs/capacity.md shows (a test keeps the two equal).
Every price and limit is an input below, with where it comes from; change them for your region, tier
and model, and run it again. Nothing here is measured: it is arithmetic on the design's call counts and
on published limits and list prices (US regions, pay-as-you-go, late 2026).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class Scale:
    """One deployment size: how many jobs a day, how many images each, how peaky the day is."""

    name: str
    jobs_per_day: int
    images_per_job: float
    peak_to_average: float  # busiest minute against the day's average rate


SCALES = (
    Scale("hobby bot", jobs_per_day=100, images_per_job=1.0, peak_to_average=20.0),
    Scale("10,000 jobs/day", jobs_per_day=10_000, images_per_job=1.5, peak_to_average=5.0),
    Scale("1,000,000 jobs/day", jobs_per_day=1_000_000, images_per_job=1.5, peak_to_average=3.0),
)

# ---------------------------------------------------------------------------------------------- prices
FLEX_GB_SECOND = 0.000026  # on-demand execution time, per GB-s
FLEX_PER_MILLION_EXECUTIONS = 0.40
FLEX_FREE_GB_SECONDS = 100_000  # monthly free grant (on demand only)
FLEX_FREE_EXECUTIONS = 250_000
STORAGE_PER_10K_TABLE_QUEUE = 0.0004  # table transactions and queue operations
STORAGE_PER_10K_BLOB_WRITE = 0.065  # hot tier, LRS
STORAGE_PER_10K_BLOB_READ = 0.005
SERVICE_BUS_STANDARD_MONTH = 9.81  # base charge, includes 13 M operations
SERVICE_BUS_PER_MILLION = 0.80  # operations past the included 13 M
SERVICE_BUS_INCLUDED = 13_000_000
IMAGE_PRICE = 0.042  # gpt-image-1, 1024x1024, medium quality (low 0.011, high 0.167)

# ----------------------------------------------------------------------------------------- the design
INSTANCE_GB = 2.0  # instanceMemoryMB 2048
PROVIDER_SECONDS_PER_IMAGE = 20.0  # the activity waits on the model for this long
ACTIVITIES_PER_INSTANCE = 4  # host.json maxConcurrentActivityFunctions
# Executions per job: submit, queue trigger, mark_job_running, one generate_output per image, and the
# orchestrator's episodes (start, one per finished activity, the end), plus a handful of status reads.
STATUS_READS_PER_JOB = 3
# Storage calls per job, counted from the code: accept (row, index, queue), the starter (instance read
# and start), mark_job_running (read, write), per image (row read, PNG and preview writes, row write),
# status reads; the Durable Azure Storage backend adds about 5 per orchestrator episode (control-queue
# get and delete, history batch, instance row) and 6 per activity (work-item message put, get, delete,
# and its answer on the control queue).
APP_TABLE_QUEUE_CALLS = 3 + 2 + 2
APP_TABLE_CALLS_PER_IMAGE = 2
BLOB_WRITES_PER_IMAGE = 2
DURABLE_CALLS_PER_EPISODE = 5
DURABLE_CALLS_PER_ACTIVITY = 6
IDLE_POLLS_PER_SECOND = 2.5  # task hub queues at maxQueuePollingInterval 2 s, per running instance

# ------------------------------------------------------------------------------------- published limits
DURABLE_PARTITIONS_DEFAULT = 4  # one worker per control-queue partition at a time; 16 at most
# What one worker does with one partition: Microsoft's Azure Storage targets are 100 activities/s fanned
# out and 150 answers/s fanned in per worker (.NET); a Python worker replaying this orchestrator and doing
# the episode's storage calls is taken at a quarter of that.
DURABLE_EPISODES_PER_PARTITION = 25
STORAGE_ACCOUNT_REQUESTS = 20_000  # requests/s per standard account
TABLE_PARTITION_ENTITIES = 2_000  # entities/s per partition (the index's `all` partition)
SERVICE_BUS_STANDARD_CREDITS = 1_000  # Standard is throttled at about 1,000 operation credits/s
FLEX_MAX_INSTANCES = 1_000
TEMPLATE_MAX_INSTANCES = 40  # infra's maximumInstanceCount default
INSTANCE_LINGER_SECONDS = 60  # an instance stays up about this long after its last execution


@dataclass(frozen=True)
class Estimate:
    scale: Scale
    peak_jobs_per_second: float
    peak_images_per_second: float
    instances_at_peak: int
    storage_requests_at_peak: float
    index_writes_at_peak: float
    episodes_at_peak: float
    partitions_needed: int
    images_per_minute_needed: int
    cost_per_1000_images: dict[str, float]


def _monthly_compute(scale: Scale) -> float:
    images = scale.jobs_per_day * scale.images_per_job * DAYS_PER_MONTH
    jobs = scale.jobs_per_day * DAYS_PER_MONTH
    # An instance is billed while any execution runs on it; up to ACTIVITIES_PER_INSTANCE images share it.
    busy_seconds = images * PROVIDER_SECONDS_PER_IMAGE / ACTIVITIES_PER_INSTANCE + jobs * 0.3
    gb_seconds = max(0.0, busy_seconds * INSTANCE_GB - FLEX_FREE_GB_SECONDS)
    executions = jobs * (4 + STATUS_READS_PER_JOB) + images * 2
    billable = max(0.0, executions - FLEX_FREE_EXECUTIONS)
    return gb_seconds * FLEX_GB_SECOND + billable / 1e6 * FLEX_PER_MILLION_EXECUTIONS


def _calls_per_job(images: float) -> float:
    episodes = images + 3
    durable = DURABLE_CALLS_PER_EPISODE * episodes + DURABLE_CALLS_PER_ACTIVITY * (images + 1)
    return APP_TABLE_QUEUE_CALLS + APP_TABLE_CALLS_PER_IMAGE * images + STATUS_READS_PER_JOB + durable


def _instance_seconds_per_month(scale: Scale) -> float:
    """Seconds instances are up: while they work, plus a linger after each quiet spell (never more than
    one instance around the clock for the lingering)."""
    images = scale.jobs_per_day * scale.images_per_job * DAYS_PER_MONTH
    working = images * PROVIDER_SECONDS_PER_IMAGE / ACTIVITIES_PER_INSTANCE
    lingering = min(scale.jobs_per_day * DAYS_PER_MONTH * INSTANCE_LINGER_SECONDS,
                    SECONDS_PER_DAY * DAYS_PER_MONTH)
    return working + lingering


def _monthly_storage(scale: Scale) -> float:
    jobs = scale.jobs_per_day * DAYS_PER_MONTH
    images = jobs * scale.images_per_job
    table_queue = jobs * _calls_per_job(scale.images_per_job)
    idle = _instance_seconds_per_month(scale) * IDLE_POLLS_PER_SECOND
    blob_writes = images * BLOB_WRITES_PER_IMAGE
    blob_reads = images * 2  # the picture and its preview, fetched once each through their SAS links
    return ((table_queue + idle) / 1e4 * STORAGE_PER_10K_TABLE_QUEUE
            + blob_writes / 1e4 * STORAGE_PER_10K_BLOB_WRITE + blob_reads / 1e4 * STORAGE_PER_10K_BLOB_READ)


def _monthly_service_bus(scale: Scale) -> float:
    operations = scale.jobs_per_day * DAYS_PER_MONTH * 3  # send, receive, complete
    extra = max(0, operations - SERVICE_BUS_INCLUDED)
    return SERVICE_BUS_STANDARD_MONTH + extra / 1e6 * SERVICE_BUS_PER_MILLION


def estimate(scale: Scale) -> Estimate:
    average_jobs = scale.jobs_per_day / SECONDS_PER_DAY
    peak_jobs = average_jobs * scale.peak_to_average
    peak_images = peak_jobs * scale.images_per_job
    in_flight = peak_images * PROVIDER_SECONDS_PER_IMAGE
    instances = max(1, math.ceil(in_flight / ACTIVITIES_PER_INSTANCE))
    episodes = peak_jobs * (scale.images_per_job + 3)
    images_month = scale.jobs_per_day * scale.images_per_job * DAYS_PER_MONTH
    per_1000 = 1000 / images_month
    costs = {
        "compute": _monthly_compute(scale) * per_1000,
        "storage": _monthly_storage(scale) * per_1000,
        "service bus": _monthly_service_bus(scale) * per_1000,
        "model": IMAGE_PRICE * 1000,
    }
    return Estimate(
        scale=scale,
        peak_jobs_per_second=peak_jobs,
        peak_images_per_second=peak_images,
        instances_at_peak=instances,
        storage_requests_at_peak=peak_jobs * _calls_per_job(scale.images_per_job),
        index_writes_at_peak=peak_jobs * 2,  # each job's entry in `all` is written, then its status
        episodes_at_peak=episodes,
        partitions_needed=min(16, max(DURABLE_PARTITIONS_DEFAULT,
                                      math.ceil(episodes / DURABLE_EPISODES_PER_PARTITION))),
        images_per_minute_needed=math.ceil(peak_images * 60),
        cost_per_1000_images=costs,
    )


def _limits_reached(estimate_: Estimate) -> str:
    """The app-side limits this scale reaches at its peak (the model's own limit comes first anyway)."""
    reached = []
    if estimate_.instances_at_peak > TEMPLATE_MAX_INSTANCES:
        reached.append("maximumInstanceCount 40")
    if estimate_.partitions_needed > DURABLE_PARTITIONS_DEFAULT:
        reached.append("partitionCount 4")
    if estimate_.index_writes_at_peak > TABLE_PARTITION_ENTITIES / 2:
        reached.append("index `all` partition")
    if estimate_.storage_requests_at_peak > STORAGE_ACCOUNT_REQUESTS / 2:
        reached.append("storage account requests")
    if estimate_.peak_jobs_per_second * 3 > SERVICE_BUS_STANDARD_CREDITS / 2:
        reached.append("Service Bus Standard credits")
    return ", ".join(reached) or "none"


def table() -> str:
    """The markdown table docs/capacity.md shows."""
    rows = [
        "| scale | peak jobs/s | peak images/s | model images/min needed | instances at peak "
        "| storage requests/s at peak | Durable partitions | template limits reached | compute | storage "
        "| Service Bus | model | total per 1,000 images |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scale in SCALES:
        e = estimate(scale)
        c = e.cost_per_1000_images
        rows.append(
            f"| {scale.name} | {e.peak_jobs_per_second:.2f} | {e.peak_images_per_second:.2f} "
            f"| {e.images_per_minute_needed:,} | {e.instances_at_peak:,} | {e.storage_requests_at_peak:,.0f} "
            f"| {e.partitions_needed} | {_limits_reached(e)} | ${c['compute']:.2f} | ${c['storage']:.2f} "
            f"| ${c['service bus']:.2f} | ${c['model']:.2f} | ${sum(c.values()):.2f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    print(table())


if __name__ == "__main__":
    main()
