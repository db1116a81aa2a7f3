"""Reading what `TELEMETRY_EXPORTER=file:<path>` wrote: spans and metric points, as plain dicts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.telemetry import job_trace_ids


@dataclass
class Telemetry:
    spans: list[dict[str, Any]] = field(default_factory=list)
    # The latest point of each (metric name, attributes): the points are cumulative.
    points: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def job_spans(self, job_id: str) -> list[dict[str, Any]]:
        return [span for span in self.spans if span["attributes"].get("job_id") == job_id]

    def metric(self, name: str, **attributes: object) -> list[dict[str, Any]]:
        """Points of `name` whose attributes include `attributes`."""
        return [
            point for (metric, _), point in self.points.items()
            if metric == name and attributes.items() <= point["attributes"].items()
        ]

    def total(self, name: str, **attributes: object) -> float:
        return sum(point.get("value", point.get("count", 0)) for point in self.metric(name, **attributes))


def read_telemetry(path: Path) -> Telemetry:
    found = Telemetry()
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["type"] == "span":
            found.spans.append(record)
        else:
            for name, point in _points(record):
                found.points[(name, json.dumps(point["attributes"], sort_keys=True))] = point
    return found


def _points(record: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    for resource in record["resource_metrics"]:
        for scope in resource["scope_metrics"]:
            for metric in scope["metrics"]:
                for point in metric["data"]["data_points"]:
                    yield metric["name"], point


def wait_for_telemetry(path: Path, ready: Callable[[Telemetry], bool], *, seconds: float = 30) -> Telemetry:
    """Poll the file until `ready` holds; AssertionError (with what was seen) when it never does."""
    deadline = time.monotonic() + seconds
    while True:
        seen = read_telemetry(path)
        if ready(seen):
            return seen
        if time.monotonic() > deadline:
            names = sorted({span["name"] for span in seen.spans})
            raise AssertionError(f"telemetry in {path} never became ready; spans seen: {names}")
        time.sleep(0.5)


def job_trace_hex(job_id: str) -> tuple[str, str]:
    """(trace id, root span id) of a job's trace as the exporter writes them ("0x" + hex)."""
    trace_id, root_id = job_trace_ids(job_id)
    return f"0x{trace_id:032x}", f"0x{root_id:016x}"


def assert_one_connected_trace(spans: list[dict[str, Any]], job_id: str) -> None:
    """Every span of the job is in the job's trace, and each hangs off the root or another of them."""
    trace_id, root_id = job_trace_hex(job_id)
    ids = {span["context"]["span_id"] for span in spans} | {root_id}
    for span in spans:
        assert span["context"]["trace_id"] == trace_id, span
        assert span["parent_id"] in ids, span
