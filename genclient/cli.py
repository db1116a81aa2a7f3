"""`genctl`: submit, follow, fetch, list, cancel and delete generation jobs from a shell.

Exit codes: 0 success, 1 the job failed or was canceled, 2 usage error, 3 the service answered with
an error or could not be reached. Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from genclient import commands
from genclient.api import GenerationClient, ServiceError
from genclient.commands import EXIT_SERVICE, EXIT_USAGE, Context

URL_VARIABLE = "GENERATION_API_URL"
KEY_VARIABLE = "GENERATION_API_KEY"
TOKEN_VARIABLE = "GENERATION_API_TOKEN"
DEFAULT_URL = "http://localhost:7071"
EXIT_INTERRUPTED = 130
Command = Callable[[Context, argparse.Namespace], int]


class UsageError(Exception):
    """The command line is wrong; nothing was sent."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (and lets main() choose the exit code)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _count(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 4:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 4")
    return int(raw)


def _limit(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 100")
    return int(raw)


def _common() -> Parser:
    """Options every command takes, before or after its name (SUPPRESS: a later default hides none)."""
    common = Parser(add_help=False)
    common.add_argument("--base-url", default=argparse.SUPPRESS,
                        help=f"the service (env {URL_VARIABLE}; default {DEFAULT_URL})")
    common.add_argument("--key", default=argparse.SUPPRESS, help=f"function key (env {KEY_VARIABLE})")
    common.add_argument("--token", default=argparse.SUPPRESS,
                        help=f"Entra ID access token for a service behind Easy Auth (env {TOKEN_VARIABLE})")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the API's JSON instead of text")
    return common


def _add(subparsers: argparse._SubParsersAction[Parser], name: str, command: Command,
         help_text: str) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text,
                                                          parents=[_common()])
    sub.set_defaults(command=command)
    return sub


def build_parser() -> Parser:
    parser = Parser(prog="genctl", description=__doc__, parents=[_common()],
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    submit = _add(subparsers, "submit", commands.submit, "ask for pictures or a text answer")
    submit.add_argument("prompt")
    submit.add_argument("--kind", choices=("image", "text"), default="image")
    submit.add_argument("--n", type=_count, help="how many pictures, 1-4 (default 1)")
    submit.add_argument("--size", choices=("1024x1024", "1536x1024", "1024x1536"))
    submit.add_argument("--user", help="owner id the job is listed under")
    submit.add_argument("--wait", action="store_true", help="wait for the job, with a progress bar")
    submit.add_argument("-o", "--output", type=Path, metavar="DIR", help="wait, then save the outputs here")
    for name, command, text in (("status", commands.status, "show a job once"),
                                ("wait", commands.wait, "wait until a job is done, with a progress bar"),
                                ("cancel", commands.cancel, "cancel a job"),
                                ("delete", commands.delete, "delete a job and its outputs")):
        _add(subparsers, name, command, text).add_argument("id")
    get = _add(subparsers, "get", commands.get, "wait for a job, then save its outputs")
    get.add_argument("id")
    get.add_argument("-o", "--output", type=Path, metavar="DIR", default=Path("."),
                     help="folder for the files (default: here)")
    listing = _add(subparsers, "list", commands.list_jobs, "list jobs, newest first")
    listing.add_argument("--user")
    listing.add_argument("--status", choices=("queued", "running", "succeeded", "failed", "canceled"))
    listing.add_argument("--limit", type=_limit)
    listing.add_argument("--cursor", help="next_cursor of the page before")
    return parser


def _context(args: argparse.Namespace) -> Context:
    base_url = getattr(args, "base_url", None) or os.environ.get(URL_VARIABLE) or DEFAULT_URL
    if not base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must start with http:// or https:// (got {base_url!r})")
    key = getattr(args, "key", None) or os.environ.get(KEY_VARIABLE) or None
    token = getattr(args, "token", None) or os.environ.get(TOKEN_VARIABLE) or None
    client = GenerationClient(base_url, key=key, token=token)
    return Context(client=client, json=getattr(args, "json", False))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        context = _context(args)
        command: Command = args.command
        return command(context, args)
    except UsageError as error:
        _fail(f"genctl: usage error: {error}")
        return EXIT_USAGE
    except ServiceError as error:
        _fail(f"genctl: {error}")
        return EXIT_SERVICE
    except KeyboardInterrupt:
        _fail("genctl: interrupted (a submitted job goes on; `genctl wait ID` follows it again)")
        return EXIT_INTERRUPTED


def _fail(line: str) -> None:
    sys.stderr.write(" ".join(line.split()) + "\n")
