"""A small function app that exercises what devhost hosts (not the product app).

Queue and timer functions leave a JSON record on the queue named by SAMPLE_RESULTS_QUEUE, so tests can
see what each invocation received.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import os
import threading
import time
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import durable_functions
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(durable_functions.bp)  # orchestrators, activities and a durable client

_results_lock = threading.Lock()


@functools.cache
def _results_queue() -> QueueClient:
    """Built once per process."""
    client = QueueClient.from_connection_string(
        os.environ["SAMPLE_STORAGE"], os.environ["SAMPLE_RESULTS_QUEUE"])
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def record(entry: dict[str, Any]) -> None:
    """Append one JSON record to the results queue."""
    with _results_lock:
        client = _results_queue()
    client.send_message(json.dumps(entry))


def _text_or_base64(body: bytes) -> dict[str, str]:
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}


@app.route(route="anonymous", auth_level=func.AuthLevel.ANONYMOUS)
def anonymous(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("anonymous ok")


@app.route(route="secure/function", auth_level=func.AuthLevel.FUNCTION)
def function_level(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("function ok")


@app.route(route="secure/admin", auth_level=func.AuthLevel.ADMIN)
def admin_level(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@app.route(route="echo", methods=["POST", "PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def echo_digest(req: func.HttpRequest) -> func.HttpResponse:
    """The sha256 of the raw body, as a signature check would compute it."""
    body = req.get_body()
    answer = {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body),
              "content_type": req.headers.get("content-type")}
    return func.HttpResponse(json.dumps(answer), mimetype="application/json")


@app.route(route="items/{id:int?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def get_item(req: func.HttpRequest) -> func.HttpResponse:
    answer = {"route_params": dict(req.route_params)}
    return func.HttpResponse(json.dumps(answer), mimetype="application/json")


@app.route(route="items/{id:int}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
async def delete_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


@app.route(route="things/{thing_id:guid}", auth_level=func.AuthLevel.ANONYMOUS)
def get_thing(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params["thing_id"])


@app.route(route="users/{name:alpha}/files/{stem}.{ext}", auth_level=func.AuthLevel.ANONYMOUS)
def get_file(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(dict(req.route_params)), mimetype="application/json")


@app.route(route="inspect", auth_level=func.AuthLevel.ANONYMOUS)
def inspect_request(req: func.HttpRequest) -> func.HttpResponse:
    answer = {"method": req.method, "url": req.url, "params": dict(req.params),
              "header": req.headers.get("x-sample"), "route_params": dict(req.route_params)}
    return func.HttpResponse(json.dumps(answer), mimetype="application/json")


@app.route(route="shape", auth_level=func.AuthLevel.ANONYMOUS)
def response_shape(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("kind") == "text":
        return func.HttpResponse("plain words", status_code=202)
    return func.HttpResponse(
        b'{"shaped": true}', status_code=201, mimetype="application/problem+json",
        headers={"X-Sample": "yes", "Location": "/api/shape/1"})


@app.route(route="text", auth_level=func.AuthLevel.ANONYMOUS)
def returns_text(req: func.HttpRequest) -> str:
    return "returned a str"


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("sample failure with secret detail")


@app.route(route="slow", auth_level=func.AuthLevel.ANONYMOUS)
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    record({"function": "slow", "phase": "started"})
    await asyncio.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("slow done")


@app.route(route="settings/{name}", auth_level=func.AuthLevel.ANONYMOUS)
def read_setting(req: func.HttpRequest) -> func.HttpResponse:
    value = os.environ.get(req.route_params["name"])
    return func.HttpResponse(value or "", status_code=200 if value is not None else 404)


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE%", connection="SAMPLE_STORAGE")
def record_message(msg: func.QueueMessage) -> None:
    record({"function": "record_message", "id": msg.id, "dequeue_count": msg.dequeue_count,
            "has_times": msg.insertion_time is not None and msg.expiration_time is not None,
            **_text_or_base64(msg.get_body())})


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_FAIL_QUEUE%", connection="SAMPLE_STORAGE")
def always_fails(msg: func.QueueMessage) -> None:
    record({"function": "always_fails", "id": msg.id, "dequeue_count": msg.dequeue_count})
    raise RuntimeError("this message cannot be processed")


@app.queue_trigger(arg_name="text", queue_name="%SAMPLE_SLOW_QUEUE%", connection="SAMPLE_STORAGE")
async def slow_message(text: str) -> None:
    """Declared as str: gets the decoded text. Takes a while, to be in flight at shutdown."""
    record({"function": "slow_message", "phase": "started", "text": text})
    await asyncio.sleep(2)
    record({"function": "slow_message", "phase": "finished", "text": text})


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True, use_monitor=False)
def yearly_timer(timer: func.TimerRequest) -> None:
    record({"function": "yearly_timer", "past_due": timer.past_due})


@app.timer_trigger(schedule="%SAMPLE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def configured_timer(timer: func.TimerRequest) -> None:
    time.sleep(0.01)
    record({"function": "configured_timer", "past_due": timer.past_due})


@app.service_bus_queue_trigger(arg_name="message", queue_name="sample", connection="SAMPLE_SERVICE_BUS")
def service_bus_listener(message: func.ServiceBusMessage) -> None:
    record({"function": "service_bus_listener"})
