"""`python -m devhost`: load settings and the app, serve until SIGINT/SIGTERM, shut down cleanly."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devhost import azurite, easyauth
from devhost.auth import Keys
from devhost.functions import load_app
from devhost.host import Host
from devhost.settings import apply_values, load_host_config, load_local_settings

logger = logging.getLogger("devhost")

DEFAULT_PORT = 7071


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description="Run a function app locally.")
    parser.add_argument("--port", type=int, default=None,
                        help=f"HTTP port (default: Host.LocalHttpPort in the settings, else {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--app", default="function_app", help="module declaring the FunctionApp")
    parser.add_argument("--app-dir", default=".", help="function app directory (host.json, the app module)")
    parser.add_argument("--settings", default="local.settings.json",
                        help="settings file; a relative path is relative to --app-dir")
    parser.add_argument("--azurite", action="store_true",
                        help="start Azurite unless one is already listening")
    parser.add_argument("--azurite-location", default=None,
                        help="Azurite workspace (default <app-dir>/.azurite)")
    parser.add_argument("--shutdown-timeout", type=float, default=5.0,
                        help="seconds in-flight invocations get to finish at shutdown (default 5)")
    parser.add_argument("--verbose", action="store_true", help="log at DEBUG, with HTTP access lines")
    return parser.parse_args(argv)


def configure_logging(*, verbose: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    if not verbose:
        # The Azure SDKs log every storage request at INFO; that drowns the invocation lines.
        logging.getLogger("azure").setLevel(logging.WARNING)


async def serve(host: Host) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def force_exit() -> None:
        logger.warning("second signal: exiting without waiting for in-flight work")
        logging.shutdown()
        os._exit(1)

    def request_stop() -> None:
        stopping.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, force_exit)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    try:
        await host.start()
    except Exception:
        # Port taken, storage unreachable for the Durable task hub...: say why and stop what started.
        logger.exception("devhost could not start on %s:%s", host.bind, host.port)
        await host.stop()
        return 1
    await stopping.wait()
    await host.stop()
    return 0


def run(host: Host) -> int:
    """Run the host on a fresh loop whose thread pool (for sync functions) can be abandoned at exit."""
    workers = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT") or 32)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devhost-function")
    loop = asyncio.new_event_loop()
    loop.set_default_executor(executor)
    try:
        code = loop.run_until_complete(serve(host))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        loop.close()
    deadline = time.monotonic() + 1.0
    for thread in threading.enumerate():
        if thread.name.startswith("devhost-function"):
            # Idle workers exit at once; one still busy would make Python wait for it at exit.
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(t.name.startswith("devhost-function") and t.is_alive() for t in threading.enumerate()):
        logger.warning("a synchronous function is still running; exiting without it")
        logging.shutdown()
        os._exit(code)
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(verbose=args.verbose)
    app_dir = Path(args.app_dir).resolve()
    document = load_local_settings(app_dir / args.settings)
    apply_values(document.get("Values") or {})
    if easyauth.stand_in():
        logger.warning("%s: principal headers are trusted as sent (a local stand-in for Easy Auth)",
                       easyauth.SETTING)
    port = args.port or int((document.get("Host") or {}).get("LocalHttpPort") or DEFAULT_PORT)
    emulator = None
    if args.azurite:
        emulator = azurite.ensure_azurite(args.azurite_location or str(app_dir / ".azurite"))
    os.chdir(app_dir)  # as on Azure, the app runs with its own directory as the working directory
    try:
        specs = load_app(args.app, app_dir=app_dir)
        config = load_host_config(app_dir)
    except Exception:
        logger.exception("cannot load the function app %r from %s", args.app, app_dir)
        return 1
    host = Host(specs, config=config, keys=Keys.from_environment(), port=port, bind=args.host,
                shutdown_timeout=args.shutdown_timeout, access_log=args.verbose)
    try:
        return run(host)
    finally:
        if emulator is not None:
            emulator.stop()
