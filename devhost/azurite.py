"""Start Azurite (from npm) on its default ports, or reuse one that is already listening."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

BLOB_PORT, QUEUE_PORT, TABLE_PORT = 10000, 10001, 10002
HOST = "127.0.0.1"
# The well-known development account; it is public and only valid against the emulator.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def connection_string_for(blob_port: int, queue_port: int, table_port: int) -> str:
    """The development account's connection string for an Azurite on these ports."""
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{HOST}:{blob_port}/{ACCOUNT_NAME};"
        f"QueueEndpoint=http://{HOST}:{queue_port}/{ACCOUNT_NAME};"
        f"TableEndpoint=http://{HOST}:{table_port}/{ACCOUNT_NAME};"
    )


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


def _azurite_binary() -> str:
    local = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise RuntimeError("Azurite is not installed: run `npm ci` in the project root (see README)")


CONNECTION_STRING = connection_string_for(BLOB_PORT, QUEUE_PORT, TABLE_PORT)


@dataclass
class Azurite:
    """A running Azurite; `stop()` ends it only if this process started it."""

    connection_string: str = CONNECTION_STRING
    process: subprocess.Popen[bytes] | None = None
    workspace: str | None = field(default=None)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def ensure_azurite(location: str | None = None, *, timeout: float = 30.0) -> Azurite:
    """Return a running Azurite: the one already on the default ports, or a new one."""
    ports = (BLOB_PORT, QUEUE_PORT, TABLE_PORT)
    if all(_listening(port) for port in ports):
        logger.info("reusing Azurite already listening on %s", ports)
        return Azurite()
    if any(_listening(port) for port in ports):
        raise RuntimeError(f"some of the Azurite ports {ports} are taken by another program")
    return start_azurite(location, ports=ports, timeout=timeout)


def start_azurite(
    location: str | None = None,
    *,
    ports: tuple[int, int, int] = (BLOB_PORT, QUEUE_PORT, TABLE_PORT),
    timeout: float = 30.0,
    in_memory: bool = False,
) -> Azurite:
    """Start a new Azurite on `ports` (blob, queue, table); `stop()` ends it.

    `in_memory` keeps every piece of data in memory (lost when it stops); the workspace then holds
    only its log.
    """
    workspace = location or tempfile.mkdtemp(prefix="azurite-")
    os.makedirs(workspace, exist_ok=True)
    cmd = [_azurite_binary(), "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"]
    cmd += ["--inMemoryPersistence"] if in_memory else ["--location", workspace]
    for service, port in zip(("blob", "queue", "table"), ports, strict=True):
        cmd += [f"--{service}Host", HOST, f"--{service}Port", str(port)]
    log = open(os.path.join(workspace, "azurite.log"), "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not all(_listening(port) for port in ports):
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with code {process.returncode}; see {workspace}/azurite.log")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"Azurite did not listen within {timeout:.0f}s")
        time.sleep(0.1)
    logger.info("started Azurite (pid %s) with workspace %s", process.pid, workspace)
    return Azurite(connection_string=connection_string_for(*ports), process=process, workspace=workspace)


def main(argv: list[str] | None = None) -> int:
    """`python -m devhost.azurite [--location DIR]`: run Azurite in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--location", default=str(PROJECT_ROOT / ".azurite"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    azurite = ensure_azurite(args.location)
    if azurite.process is None:
        return 0
    try:
        azurite.process.wait()
    except KeyboardInterrupt:
        azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
