"""What the command line prints: a few aligned lines for people, the API's own JSON with `--json`."""

from __future__ import annotations

import json
from typing import Any, TextIO

PROMPT_WIDTH = 48


def as_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _output_line(output: dict[str, Any]) -> str:
    if "error" in output:
        return f"failed: {output['error']['message']}"
    if "text" in output:
        return str(output["text"])
    size = f" ({output['width']}x{output['height']})" if output.get("width") else ""
    return f"{output['url']}{size}"


def job_lines(job: dict[str, Any]) -> list[str]:
    """The job as `name  value` lines, outputs last."""
    progress = job["progress"]
    rows = [
        ("id", job["id"]),
        ("status", job["status"]),
        ("kind", job["kind"] if job["kind"] == "text" else f"image, {job['n']} x {job['size']}"),
        ("prompt", job["prompt"]),
        ("progress", f"{progress['completed']}/{progress['total']}"),
        ("created", job["created_at"]),
    ]
    if job.get("user"):
        rows.append(("user", job["user"]))
    if job.get("error"):
        rows.append(("error", f"{job['error']['code']}: {job['error']['message']}"))
    rows += [(f"output {o['index']}", _output_line(o)) for o in job["outputs"]]
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {value}" for name, value in rows]


def _short(prompt: str) -> str:
    flat = " ".join(prompt.split())
    return flat if len(flat) <= PROMPT_WIDTH else flat[: PROMPT_WIDTH - 1] + "…"


def list_lines(page: dict[str, Any]) -> list[str]:
    """One line per job, newest first: id, status, kind, created, prompt."""
    return [
        f"{job['id']}  {job['status']:<9}  {job['kind']:<5}  {job['created_at']}  {_short(job['prompt'])}"
        for job in page["items"]
    ]
