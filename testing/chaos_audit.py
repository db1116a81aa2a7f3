"""What a chaos run must end with, counted: nothing lost, failed, duplicated or orphaned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from testing.devhost import wait_for
from testing.leftovers import StorageSnapshot, snapshot
from testing.operator import finished_runs, run_function

if TYPE_CHECKING:
    from testing.chaos import ChaosWorld, Submissions


def expected_blobs(job_id: str, outputs: int) -> list[str]:
    names = [f"{job_id}/{index}.png" for index in range(outputs)]
    names += [f"{job_id}/{index}.preview.jpg" for index in range(outputs)]
    return sorted(names)


@dataclass
class ChaosAudit:
    """Counts of everything that went wrong (all zero in a good run) and examples of each."""

    jobs: int = 0
    lost: list[str] = field(default_factory=list)  # not succeeded in time (still queued or running)
    failed: list[str] = field(default_factory=list)  # failed or canceled, or outputs not all made
    duplicated: list[str] = field(default_factory=list)  # rows, index entries or blobs beyond one each
    orphaned: list[str] = field(default_factory=list)  # blobs, index entries, instances without a job

    @property
    def clean(self) -> bool:
        return not (self.lost or self.failed or self.duplicated or self.orphaned)

    def line(self) -> str:
        return (f"jobs={self.jobs} lost={len(self.lost)} failed={len(self.failed)} "
                f"duplicated={len(self.duplicated)} orphaned={len(self.orphaned)}")

    def details(self) -> str:
        parts = {"lost": self.lost, "failed": self.failed, "duplicated": self.duplicated,
                 "orphaned": self.orphaned}
        return "; ".join(f"{name}: {items[:5]}" for name, items in parts.items() if items)


def _check_job(audit: ChaosAudit, job_id: str, resource: Mapping[str, Any], outputs: int) -> None:
    status = resource.get("status")
    if status in ("queued", "running", "unknown"):
        audit.lost.append(f"{job_id} ({status})")
        return
    made = [output for output in resource.get("outputs", []) if "error" not in output]
    if status != "succeeded" or len(made) != outputs:
        audit.failed.append(f"{job_id} ({status}: {resource.get('error')})")


def audit_run(final: Mapping[str, Mapping[str, Any]], storage: StorageSnapshot, *, outputs: int,
              submitted: int) -> ChaosAudit:
    """Compare what the client saw (`final`: job id -> resource) with what storage holds."""
    audit = ChaosAudit(jobs=len(final))
    if submitted != len(final):
        audit.lost.append(f"{submitted - len(final)} submissions without a job id")
    for job_id, resource in final.items():
        _check_job(audit, job_id, resource, outputs)
        if job_id not in storage.rows:
            audit.lost.append(f"{job_id} (no row)")
        if storage.index.get(job_id, 0) != 1:
            audit.duplicated.append(f"{job_id}: {storage.index.get(job_id, 0)} index entries")
        blobs = set(storage.blobs.get(job_id, []))
        expected = set(expected_blobs(job_id, outputs))
        if blobs - expected:
            audit.duplicated.append(f"{job_id}: unexpected blobs {sorted(blobs - expected)}")
        if resource.get("status") == "succeeded" and expected - blobs:
            audit.failed.append(f"{job_id}: succeeded without blobs {sorted(expected - blobs)}")
    known = set(final)
    audit.duplicated += [f"{row}: a job row nobody submitted" for row in storage.rows - known]
    audit.orphaned += [f"index entry of {job_id}" for job_id in storage.index if job_id not in storage.rows]
    audit.orphaned += [f"blobs of {job_id}" for job_id in storage.blobs if job_id not in storage.rows]
    instances = storage.instances | storage.history
    audit.orphaned += [f"orchestration {i} without a row" for i in instances
                       if i.split(":", 1)[0] not in storage.rows]
    audit.orphaned += [f"tombstone of {job_id}" for job_id in storage.tombstones]
    return audit


@dataclass(frozen=True)
class Settled:
    """How a chaos run ended: the audit, maintenance's summary line and the provider's call counts."""

    audit: ChaosAudit
    maintenance: str
    provider_calls: int
    spoiled_calls: dict[str, int]


def settle(world: ChaosWorld, submissions: Submissions, *, submitted: int, within: float) -> Settled:
    """Awaits every submitted job, audits the whole storage account, then runs maintenance once."""
    job_ids = [submissions.job_ids[index] for index in sorted(submissions.job_ids)]
    final = world.wait_all(job_ids, within=within)
    storage = snapshot(world.connection_string, task_hub=world.task_hub)
    audit = audit_run(final, storage, outputs=world.outputs, submitted=submitted)
    assert world.app is not None
    run_function(world.app, "maintenance")
    wait_for(lambda: finished_runs(world.app, "maintenance"), timeout=60)
    return Settled(audit=audit, maintenance=finished_runs(world.app, "maintenance")[0],
                   provider_calls=len(world.provider.requests_to("/images/generations")),
                   spoiled_calls=world.provider.windows.spoiled)
