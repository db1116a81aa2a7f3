"""Two triggers that note when each message arrived (bench/servicebus.py reads the log lines)."""

from __future__ import annotations

import logging
import time

import azure.functions as func

app = func.FunctionApp()
logger = logging.getLogger("bench.trigger")


def _note(kind: str, body: bytes) -> None:
    logger.info("bench-received %s %s %.6f", kind, body.decode(), time.time())


@app.queue_trigger(arg_name="msg", queue_name="%BENCH_QUEUE%", connection="BENCH_STORAGE")
async def on_storage(msg: func.QueueMessage) -> None:
    _note("storage", msg.get_body())


@app.service_bus_queue_trigger(arg_name="msg", queue_name="%BENCH_QUEUE%", connection="BENCH_BUS")
async def on_bus(msg: func.ServiceBusMessage) -> None:
    _note("servicebus", msg.get_body())
