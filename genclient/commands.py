"""One function per command: each talks to the API, prints, and returns the exit code."""

from __future__ import annotations

import shlex
import sys
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from genclient import show
from genclient.api import GenerationClient
from genclient.waiting import follow, progress_bar

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3


@dataclass
class Context:
    client: GenerationClient
    json: bool
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: Console = field(default_factory=lambda: Console(stderr=True))

    def emit(self, value: Any, lines: list[str]) -> None:
        if self.json:
            show.as_json(value, self.out)
        else:
            self.out.write("".join(f"{line}\n" for line in lines))


def job_exit(job: dict[str, Any]) -> int:
    """1 once the job failed or was canceled (said in one line on stderr); 0 otherwise, also while it runs."""
    if job["status"] not in ("failed", "canceled"):
        return EXIT_OK
    error = job.get("error") or {}
    why = f": {error.get('code')}: {error.get('message')}" if error else ""
    sys.stderr.write(" ".join(f"genctl: job {job['id']} {job['status']}{why}".split()) + "\n")
    return EXIT_JOB_FAILED


def _wait(ctx: Context, job: dict[str, Any]) -> dict[str, Any]:
    with progress_bar(ctx.err) as report:
        return follow(ctx.client, job, report=report)


def _save(ctx: Context, job: dict[str, Any], directory: Path) -> list[str]:
    """Write each output to `directory` (pictures through the 303 link, text answers as .txt)."""
    directory.mkdir(parents=True, exist_ok=True)
    saved = []
    for output in job["outputs"]:
        if "text" in output:
            path = directory / f"{job['id']}-{output['index']}.txt"
            path.write_text(output["text"], encoding="utf-8")
        elif "url" in output:
            path = directory / f"{job['id']}-{output['index']}.png"
            with path.open("wb") as file:
                for chunk in ctx.client.download(output["url"]):
                    file.write(chunk)
        else:
            continue
        saved.append(str(path))
    return saved


def submit(ctx: Context, args: Namespace) -> int:
    request: dict[str, Any] = {"prompt": args.prompt, "kind": args.kind}
    for name in ("n", "size", "user"):
        if getattr(args, name) is not None:
            request[name] = getattr(args, name)
    job = ctx.client.submit(request).body
    if not (args.wait or args.output):
        ctx.emit(job, [f"{job['id']}  {job['status']}", f"follow it with: genctl wait {job['id']}"])
        return EXIT_OK
    job = _wait(ctx, job)
    return _finish(ctx, job, args.output)


def _finish(ctx: Context, job: dict[str, Any], directory: Path | None) -> int:
    saved = _save(ctx, job, directory) if directory is not None else []
    value = {"job": job, "files": saved} if directory is not None else job
    ctx.emit(value, show.job_lines(job) + [f"saved     {path}" for path in saved])
    return job_exit(job)


def status(ctx: Context, args: Namespace) -> int:
    job = ctx.client.get(args.id).body
    ctx.emit(job, show.job_lines(job))
    return job_exit(job)


def wait(ctx: Context, args: Namespace) -> int:
    job = _wait(ctx, ctx.client.get(args.id).body)
    ctx.emit(job, show.job_lines(job))
    return job_exit(job)


def get(ctx: Context, args: Namespace) -> int:
    job = _wait(ctx, ctx.client.get(args.id).body)
    return _finish(ctx, job, args.output)


def list_jobs(ctx: Context, args: Namespace) -> int:
    page = ctx.client.list(user=args.user, status=args.status, limit=args.limit, cursor=args.cursor).body
    lines = show.list_lines(page)
    if page.get("next_cursor"):
        filters = "".join(f" --{name} {shlex.quote(str(value))}"
                          for name in ("user", "status", "limit") if (value := getattr(args, name)))
        lines.append(f"more: genctl list{filters} --cursor {page['next_cursor']}")
    ctx.emit(page, lines)
    return EXIT_OK


def cancel(ctx: Context, args: Namespace) -> int:
    job = ctx.client.cancel(args.id).body
    ctx.emit(job, [f"{job['id']}  {job['status']}"])
    return EXIT_OK


def delete(ctx: Context, args: Namespace) -> int:
    ctx.client.delete(args.id)
    ctx.emit({"id": args.id, "deleted": True}, [f"{args.id}  deleted"])
    return EXIT_OK
