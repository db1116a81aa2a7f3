"""DurableEngine: the Durable Functions extension of devhost (task hub in Table storage, HTTP API, client)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web
from azure.core.exceptions import ResourceModifiedError

from devhost.durable import api, history
from devhost.durable.api import management_urls
from devhost.durable.episode import ORCHESTRATION_TRIGGER, missing_orchestrator
from devhost.durable.errors import (
    InstanceExistsError,
    InstanceGoneError,
    InstanceNotFoundError,
    InvalidInstanceIdError,
    PayloadTooLargeError,
    UnknownOrchestratorError,
)
from devhost.durable.store import MAX_PAYLOAD_CHARS, InstanceRecord, TaskHubStore
from devhost.durable.worker import TaskHubWorker
from devhost.functions import FunctionSpec

logger = logging.getLogger(__name__)
WEBHOOK_PATH = "/runtime/webhooks/durabletask"
CONNECTION_NAME = "Storage"


class DurableEngine:
    """Runs orchestrations of the app's functions and serves the Durable HTTP API."""

    def __init__(self, *, functions: Mapping[str, FunctionSpec], connection_string: str, task_hub: str,
                 max_concurrent_activities: int = 10, max_concurrent_orchestrators: int = 10) -> None:
        self.functions = dict(functions)
        self.task_hub = task_hub
        self._connection_string = connection_string
        self._limits = (max(1, max_concurrent_activities), max(1, max_concurrent_orchestrators))
        self._store: TaskHubStore | None = None
        self._worker: TaskHubWorker | None = None
        self._started = asyncio.Event()
        # Set by the host when keys are enforced: the key the client binding's URLs carry.
        self.system_key: str | None = None

    def add_routes(self, app: web.Application, *, authorize: api.Authorize) -> None:
        api.add_routes(app, self, prefix=WEBHOOK_PATH, authorize=authorize)

    def required_query(self) -> str:
        """The query every management URL carries (with `code` when keys are enforced)."""
        query = f"taskHub={self.task_hub}&connection={CONNECTION_NAME}"
        return query if self.system_key is None else f"{query}&code={quote(self.system_key, safe='')}"

    async def start(self) -> None:
        """Create the task hub tables if needed and resume every unfinished instance."""
        self._store = TaskHubStore(self._connection_string, self.task_hub)
        await self._store.ensure_tables()
        self._worker = TaskHubWorker(self._store, self.functions, max_activities=self._limits[0],
                                     max_orchestrators=self._limits[1])
        await self._worker.start()
        self._started.set()
        logger.info("durable task hub %s started", self.task_hub)

    async def wait_started(self, within: float) -> bool:
        """True once `start` has finished (waiting up to `within` s for it)."""
        try:
            async with asyncio.timeout(within):
                await self._started.wait()
        except TimeoutError:
            return False
        return self._worker is not None

    async def stop(self) -> None:
        self._started.clear()
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    @property
    def store(self) -> TaskHubStore:
        if self._store is None:
            raise RuntimeError("the durable engine is not started")
        return self._store

    @property
    def worker(self) -> TaskHubWorker:
        if self._worker is None:
            raise RuntimeError("the durable engine is not started")
        return self._worker

    def client_payload(self, base_url: str, *, rpc_base_url: str | None = None) -> str:
        """The JSON a `durableClient` binding receives, as the Durable extension builds it.

        The management URLs (handed on to callers) are public and carry the system key; the client
        itself calls `rpcBaseUrl`, a loopback listener that takes no key, as on the real host.
        """
        hook = base_url.rstrip("/") + WEBHOOK_PATH
        query = self.required_query()
        instance = f"{hook}/instances/INSTANCEID"
        create = f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]"
        return json.dumps({
            "taskHubName": self.task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{create}?{query}",
                "createAndWaitOnNewInstancePostUri":
                    f"{create}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}",
            },
            "managementUrls": management_urls(instance, query, instance_id="INSTANCEID"),
            "baseUrl": hook,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": f"{(rpc_base_url or base_url).rstrip('/')}{WEBHOOK_PATH}/",
            "httpBaseUrl": "",
            "maxGrpcMessageSizeInBytes": 0,
            "grpcHttpClientTimeout": "00:01:40",
        })

    async def start_instance(self, name: str, instance_id: str | None, input_json: str | None) -> str:
        """Create (or replace a finished) instance; InstanceExistsError while one is Pending or Running."""
        spec = self.functions.get(name)
        if spec is None or spec.trigger_type != ORCHESTRATION_TRIGGER:
            raise UnknownOrchestratorError(missing_orchestrator(name))
        _check_size("the orchestration input", input_json)
        if instance_id is not None:
            _check_instance_id(instance_id)
        now = history.utc_now()
        record = InstanceRecord(instance_id=instance_id or uuid.uuid4().hex, name=name,
                                execution_id=uuid.uuid4().hex, status="Pending", input_json=input_json,
                                created=now, updated=now)
        replaced = not await self.store.create_instance(record)
        if replaced:
            await self._replace(record)
        self.worker.track(record)
        if replaced:
            # Rows of the replaced execution: harmless (other execution id), removed to keep the table small.
            await self.store.delete_partition(record.instance_id, keep_execution=record.execution_id)
        logger.info("orchestration %s (%s) scheduled", record.instance_id, name)
        return record.instance_id

    async def _replace(self, record: InstanceRecord) -> None:
        """Overwrite a finished instance's row; InstanceExistsError if it still runs (or just changed)."""
        existing = await self.store.get_instance(record.instance_id)
        if existing is None or not existing.terminal:
            raise InstanceExistsError(existing.status if existing is not None else "Pending")
        try:
            await self.store.replace_instance(record, etag=str(existing.etag))
        except ResourceModifiedError as exc:
            raise InstanceExistsError("Pending") from exc

    async def raise_event(self, instance_id: str, name: str, input_json: str) -> None:
        _check_size(f"the data of event '{name}'", input_json)
        record = await self._running(instance_id)
        live = await self.worker.ensure_live(record)
        event = history.event_raised(history.utc_now(), name=name, input_json=input_json)
        if not await self.worker.deliver(instance_id, live.record.execution_id, event):
            raise InstanceGoneError(instance_id)

    async def terminate(self, instance_id: str, reason: str) -> None:
        record = await self._running(instance_id)
        live = await self.worker.ensure_live(record)
        event = history.execution_terminated(history.utc_now(), reason=reason)
        if not await self.worker.deliver(instance_id, live.record.execution_id, event):
            raise InstanceGoneError(instance_id)

    async def purge(self, record: InstanceRecord) -> None:
        self.worker.forget(record.instance_id)
        await self.store.delete_partition(record.instance_id)
        await self.store.delete_instance(record.instance_id)

    async def history_of(self, record: InstanceRecord) -> list[dict[str, Any]]:
        events, _, _ = await self.store.load_execution(record.instance_id, record.execution_id)
        return events

    async def _running(self, instance_id: str) -> InstanceRecord:
        record = await self.store.get_instance(instance_id)
        if record is None:
            raise InstanceNotFoundError(instance_id)
        if record.terminal:
            raise InstanceGoneError(instance_id)
        return record


def _check_size(what: str, payload: str | None) -> None:
    if payload is not None and len(payload) > MAX_PAYLOAD_CHARS:
        raise PayloadTooLargeError(what, len(payload), MAX_PAYLOAD_CHARS)


def _check_instance_id(instance_id: str) -> None:
    if not instance_id or any(c in "/\\#?" or ord(c) < 32 or ord(c) == 127 for c in instance_id):
        raise InvalidInstanceIdError(
            f"instance id {instance_id!r} has characters Table storage does not allow"
        )
