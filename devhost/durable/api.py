"""The Durable HTTP API under /runtime/webhooks/durabletask, as `DurableOrchestrationClient` calls it."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from devhost.durable import history
from devhost.durable.errors import (
    BadRequestError,
    InstanceExistsError,
    InstanceGoneError,
    InstanceNotFoundError,
)
from devhost.durable.store import InstanceRecord
from devhost.problems import unauthorized

if TYPE_CHECKING:
    from devhost.durable.engine import DurableEngine

ENGINE = web.AppKey("durable_engine", object)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Authorize = Callable[[web.Request], bool]
STARTUP_WAIT = 30.0


def add_routes(app: web.Application, engine: DurableEngine, *, prefix: str, authorize: Authorize) -> None:
    """The API under `prefix`; a request `authorize` refuses is a 401 problem (no key, wrong key)."""
    app[ENGINE] = engine
    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/orchestrators/{name}", start),
        ("POST", "/orchestrators/{name}/{instance_id}", start),
        ("GET", "/instances", query), ("GET", "/instances/", query),
        ("DELETE", "/instances", purge_by_query), ("DELETE", "/instances/", purge_by_query),
        ("GET", "/instances/{instance_id}", status),
        ("DELETE", "/instances/{instance_id}", purge),
        ("POST", "/instances/{instance_id}/raiseEvent/{event}", raise_event),
        ("POST", "/instances/{instance_id}/terminate", terminate),
        ("POST", "/instances/{instance_id}/{operation}", unsupported),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, prefix + path, _when_started(handler, authorize))


def _when_started(handler: Handler, authorize: Authorize) -> Handler:
    """Requests that arrive while the engine is still starting wait for it (HTTP listens first)."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not authorize(request):
            # As the Functions host: the extension's API takes the master key or its system key.
            return unauthorized()
        if not await _engine(request).wait_started(STARTUP_WAIT):
            return _error(503, "The Durable task hub is not running")
        return await handler(request)
    return wrapped


def _engine(request: web.Request) -> DurableEngine:
    return request.app[ENGINE]  # type: ignore[return-value]


def _error(status: int, message: str, *, exception: str | None = None) -> web.Response:
    # The extension answers errors as ASP.NET HttpError objects; the Python client reads ExceptionMessage.
    body: dict[str, str] = {"Message": message}
    if exception is not None:
        body["ExceptionMessage"] = exception
    return web.json_response(body, status=status)


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(record: InstanceRecord, *, show_input: bool = True) -> dict[str, Any]:
    return {"name": record.name, "instanceId": record.instance_id, "runtimeStatus": record.status,
            "input": _json_or_none(record.input_json) if show_input else None,
            "customStatus": _json_or_none(record.custom_status_json),
            "output": _json_or_none(record.output_json),
            "createdTime": _time(record.created), "lastUpdatedTime": _time(record.updated)}


async def start(request: web.Request) -> web.Response:
    engine = _engine(request)
    text = await request.text()
    input_json = text if text.strip() else None
    try:
        _json_or_none(input_json)
    except ValueError:
        return _error(400, "Invalid JSON content")
    try:
        instance_id = await engine.start_instance(request.match_info["name"],
                                                  request.match_info.get("instance_id"), input_json)
    except BadRequestError as exc:
        return _error(400, "One or more of the arguments submitted is incorrect", exception=str(exc))
    except InstanceExistsError as exc:
        return _error(409, str(exc))
    query = engine.required_query()
    instance = f"{_base(request)}{request.path.split('/orchestrators/')[0]}/instances/{instance_id}"
    links = management_urls(instance, query, instance_id=instance_id)
    links = {key: value for key, value in links.items() if key != "rewindPostUri"}
    return web.json_response(links, status=202, headers={
        "Location": links["statusQueryGetUri"], "Retry-After": "10"})


async def status(request: web.Request) -> web.Response:
    engine = _engine(request)
    record = await engine.store.get_instance(request.match_info["instance_id"])
    if record is None:
        return web.Response(status=404)
    body = payload(record, show_input=_flag(request, "showInput", default=True))
    if _flag(request, "showHistory"):
        body["historyEvents"] = _history_view(await engine.history_of(record),
                                              with_output=_flag(request, "showHistoryOutput"))
    if not record.terminal:
        return web.json_response(body, status=202, headers={"Location": str(request.url), "Retry-After": "5"})
    failed = record.status == "Failed" and _flag(request, "returnInternalServerErrorOnFailure")
    return web.json_response(body, status=500 if failed else 200)


def _history_view(events: list[dict[str, Any]], *, with_output: bool) -> list[dict[str, Any]]:
    hidden = {"IsPlayed", "MessageId", "CustomStatus"} | (set() if with_output else {"Result", "Input"})
    return [{**{k: v for k, v in event.items() if k not in hidden},
             "EventType": _pascal(HistoryEventType(int(event["EventType"])).name)}
            for event in events]


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


async def query(request: web.Request) -> web.Response:
    records = _filtered(request, await _engine(request).store.list_instances(_statuses(request)))
    show_input = _flag(request, "showInput")
    top = int(request.query.get("top", "0") or 0)
    items = [payload(record, show_input=show_input) for record in records]
    return web.json_response(items[:top] if top > 0 else items)


def _statuses(request: web.Request) -> list[str]:
    return [s for s in request.query.get("runtimeStatus", "").split(",") if s]


def _filtered(request: web.Request, records: list[InstanceRecord]) -> list[InstanceRecord]:
    prefix = request.query.get("instanceIdPrefix", "")
    since = request.query.get("createdTimeFrom")
    until = request.query.get("createdTimeTo")
    return [r for r in records if r.instance_id.startswith(prefix)
            and (since is None or r.created >= history.parse_time(since))
            and (until is None or r.created <= history.parse_time(until))]


async def purge(request: web.Request) -> web.Response:
    engine = _engine(request)
    instance_id = request.match_info["instance_id"]
    record = await engine.store.get_instance(instance_id)
    if record is None:
        return web.Response(status=404)
    if not record.terminal:
        return web.json_response(
            f"Only orchestrations in a terminal state can be purged, but the orchestration with instance "
            f"ID {instance_id} has status {record.status}", status=412)
    await engine.purge(record)
    return web.json_response({"instancesDeleted": 1})


async def purge_by_query(request: web.Request) -> web.Response:
    if "createdTimeFrom" not in request.query:
        return web.json_response("Please provide value for 'createdTimeFrom' parameter.", status=400)
    engine = _engine(request)
    records = _filtered(request, await engine.store.list_instances(_statuses(request)))
    doomed = [record for record in records if record.terminal]
    for record in doomed:
        await engine.purge(record)
    if not doomed:
        return web.Response(status=404)
    return web.json_response({"instancesDeleted": len(doomed)})


async def raise_event(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return _error(400, "Only application/json request content is supported")
    text = await request.text()
    try:
        value = json.loads(text) if text.strip() else None
    except ValueError:
        return _error(400, "Invalid JSON content")
    try:
        await _engine(request).raise_event(request.match_info["instance_id"], request.match_info["event"],
                                           json.dumps(value))
    except InstanceNotFoundError:
        return web.Response(status=404)
    except InstanceGoneError:
        return web.Response(status=410)
    except BadRequestError as exc:
        return _error(400, str(exc))
    return web.Response(status=202)


async def terminate(request: web.Request) -> web.Response:
    try:
        await _engine(request).terminate(request.match_info["instance_id"], request.query.get("reason", ""))
    except InstanceNotFoundError:
        return web.Response(status=404)
    except InstanceGoneError:
        return web.Response(status=410)
    return web.Response(status=202)


def management_urls(instance: str, query: str, *, instance_id: str) -> dict[str, str]:
    """The management links of one instance (`instance` is its absolute `/instances/{id}` URL)."""
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance}?{query}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance}?{query}",
        "restartPostUri": f"{instance}/restart?{query}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
    }


async def unsupported(request: web.Request) -> web.Response:
    operation = request.match_info["operation"]
    return _error(501, f"The '{operation}' operation is not supported by devhost")
