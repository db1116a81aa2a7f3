"""`python -m devhost.servicebus`: the emulator on its own, until SIGINT/SIGTERM (devhost normally runs
it inside its own process; this serves other tools and tests that need it apart)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from devhost.servicebus.entities import load_config_file
from devhost.servicebus.server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.servicebus", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5672)
    parser.add_argument(
        "--config", required=True, help="entities file (the official emulator's config.json shape)"
    )
    parser.add_argument("--data", default=".servicebus", help="folder for the message store")
    parser.add_argument("--key-name", default="RootManageSharedAccessKey")
    parser.add_argument("--key", required=True, help="the SAS key clients must sign with")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    namespace = load_config_file(Path(args.config), key_name=args.key_name, key=args.key)
    emulator = Emulator(namespace, port=args.port, data_dir=Path(args.data))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emulator.start()
    print(emulator.connection_string, flush=True)
    stop.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
