"""The host: sorts functions by trigger, serves HTTP and admin, runs queue and timer listeners."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from azure.storage.queue.aio import QueueServiceClient

from devhost import easyauth
from devhost.admin import AdminApi, AdminCall
from devhost.auth import Keys, presented_key
from devhost.functions import FunctionSpec, message_argument
from devhost.http import MAX_BODY_BYTES, HttpFunction, HttpRouter
from devhost.invoker import Invoker
from devhost.problems import ProblemAppRunner, problem_middleware
from devhost.queues import QueueListener, adhoc_message
from devhost.servicebus.hosting import emulator_for
from devhost.servicebus.listener import ServiceBusListener
from devhost.servicebus.metadata import adhoc_bus_message
from devhost.servicebus.server import Emulator
from devhost.settings import HostConfig, SettingMissingError, resolve_references, storage_connection_string
from devhost.timers import TimerJob

logger = logging.getLogger(__name__)

DURABLE_TRIGGERS = {"orchestrationTrigger", "activityTrigger", "entityTrigger"}


@dataclass
class Catalog:
    """The app's functions sorted by what devhost does with them."""

    http: list[HttpFunction] = field(default_factory=list)
    queues: list[QueueListener] = field(default_factory=list)
    buses: list[ServiceBusListener] = field(default_factory=list)
    timers: list[TimerJob] = field(default_factory=list)
    durable: list[FunctionSpec] = field(default_factory=list)
    unhosted: dict[str, str] = field(default_factory=dict)  # name -> why not
    descriptions: dict[str, str] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)  # not triggered, yet runnable through /admin


class Host:
    """One devhost: `await start()`, then `await stop()` (drains in-flight work first)."""

    def __init__(self, specs: Sequence[FunctionSpec], *, config: HostConfig, keys: Keys, port: int,
                 bind: str = "127.0.0.1", shutdown_timeout: float = 5.0, access_log: bool = False) -> None:
        self.specs = list(specs)
        self.config = config
        # The Durable extension's system key exists only where keys are enforced, as on Azure.
        self.keys = replace(keys, system_key=secrets.token_urlsafe(32)) if keys.enforced else keys
        self.port = port
        self.bind = bind
        self.shutdown_timeout = shutdown_timeout
        self.access_log = access_log
        self.invoker = Invoker()
        self.engine: Any = None
        self.catalog = Catalog()
        self._services: dict[str, QueueServiceClient] = {}
        self._runner: web.AppRunner | None = None
        self._loops: list[asyncio.Task[None]] = []
        self.emulator: Emulator | None = None
        # The Durable client's own endpoint: loopback, no key (the real host's localhost RPC port).
        self._rpc_socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.bind in ("", "0.0.0.0", "::") else self.bind
        return f"http://{host}:{self.port}"

    @property
    def rpc_base_url(self) -> str | None:
        if self._rpc_socket is None:
            return None
        return f"http://127.0.0.1:{self._rpc_socket.getsockname()[1]}"

    def _authorize_durable(self, request: web.Request) -> bool:
        """The Durable API: keyless on the loopback RPC listener, else the master or system key."""
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if self._rpc_socket is not None and sockname is not None \
                and sockname[1] == self._rpc_socket.getsockname()[1]:
            return True
        return self.keys.allows("system", presented_key(request))

    async def start(self) -> None:
        self.catalog = self._sort_functions()
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[problem_middleware])
        admin = self._admin()
        admin.add_routes(app)
        if self.engine is not None:
            self.engine.system_key = self.keys.system_key
            self.engine.add_routes(app, authorize=self._authorize_durable)
        if easyauth.enabled():
            easyauth.add_routes(app)
        router = HttpRouter(self.catalog.http, prefix=self.config.route_prefix, keys=self.keys,
                            invoker=self.invoker)
        # Registered last: aiohttp tries routes in order, so admin and Durable routes win.
        app.router.add_route("*", "/{tail:.*}", router.handle)
        access_log = logging.getLogger("aiohttp.access") if self.access_log else None
        self._runner = ProblemAppRunner(app, handle_signals=False, shutdown_timeout=self.shutdown_timeout,
                                        access_log=access_log)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.bind, self.port).start()
        if self.engine is not None:
            self._rpc_socket = socket.create_server(("127.0.0.1", 0))
            await web.SockSite(self._runner, self._rpc_socket).start()
        if self.engine is not None:
            await self.engine.start()
        self._start_emulator()
        for job in self._listeners():
            self._loops.append(asyncio.create_task(job.run(), name=f"{job.spec.name}:listener"))
        self._log_banner()
        admin.running = True

    async def stop(self) -> None:
        """Stop listening for new queue/timer work, drain in-flight invocations, then HTTP, then Durable."""
        logger.info("shutting down")
        for job in self._listeners():
            job.stop()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        # Background invocations may call the Durable HTTP API on this host, so HTTP stays up meanwhile.
        await self.invoker.drain(self.shutdown_timeout)
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        if self._runner is not None:
            steps.append(("HTTP server", self._runner.cleanup))
        if self.engine is not None:
            steps.append(("Durable engine", self.engine.stop))
        steps += [("queue client", service.close) for service in self._services.values()]
        steps += [("Service Bus client", bus.close) for bus in self.catalog.buses]
        if self.emulator is not None:
            steps.append(("Service Bus emulator", self._stop_emulator))
        for what, step in steps:
            try:
                await step()
            except Exception:
                # Keep going: the other parts still deserve a clean stop.
                logger.exception("stopping the %s failed", what)
        logger.info("stopped")

    def _start_emulator(self) -> None:
        """The local Service Bus the triggers' connection names, in this process (so it dies with it)."""
        self.emulator = emulator_for(self.specs, app_dir=Path.cwd())
        if self.emulator is not None:
            self.emulator.start()

    async def _stop_emulator(self) -> None:
        if self.emulator is not None:
            await asyncio.to_thread(self.emulator.stop)

    def _listeners(self) -> list[QueueListener | ServiceBusListener | TimerJob]:
        listeners: list[QueueListener | ServiceBusListener | TimerJob] = [
            *self.catalog.queues, *self.catalog.buses, *self.catalog.timers]
        return [listener for listener in listeners if listener.spec.name not in self.catalog.disabled]

    def _sort_functions(self) -> Catalog:
        catalog = Catalog()
        durable_reason = self._start_engine_if_needed()
        for spec in self.specs:
            try:
                self._place(spec, catalog, durable_reason)
            except (ValueError, SettingMissingError) as exc:
                catalog.unhosted[spec.name] = str(exc)
        _switch_off_disabled(catalog)
        return catalog

    def _place(self, spec: FunctionSpec, catalog: Catalog, durable_reason: str | None) -> None:
        if durable_reason and (spec.trigger_type in DURABLE_TRIGGERS or spec.durable_client_params):
            raise ValueError(durable_reason)
        kind = spec.trigger_type
        if kind == "httpTrigger":
            function = HttpFunction.from_spec(spec)
            catalog.http.append(function)
            catalog.descriptions[spec.name] = function.describe(self.base_url, self.config.route_prefix)
        elif kind == "queueTrigger":
            listener = QueueListener(spec, options=self.config.queues, invoker=self.invoker,
                                     services=self._services)
            catalog.queues.append(listener)
            catalog.descriptions[spec.name] = listener.describe()
        elif kind == "serviceBusTrigger":
            bus = ServiceBusListener(spec, options=self.config.service_bus, invoker=self.invoker)
            catalog.buses.append(bus)
            catalog.descriptions[spec.name] = bus.describe()
        elif kind == "timerTrigger":
            job = TimerJob(spec, invoker=self.invoker)
            catalog.timers.append(job)
            catalog.descriptions[spec.name] = job.describe()
        elif kind in DURABLE_TRIGGERS:
            catalog.durable.append(spec)
            catalog.descriptions[spec.name] = f"{kind} (Durable engine)"
        else:
            raise ValueError(f"{kind} is not emulated by devhost")

    def _start_engine_if_needed(self) -> str | None:
        """Create the Durable engine for apps that use it; return why durable functions cannot run, if so."""
        if not any(s.trigger_type in DURABLE_TRIGGERS or s.durable_client_params for s in self.specs):
            return None
        from devhost.durable import DurableEngine  # noqa: PLC0415 - loaded only for apps using Durable

        try:
            hub = resolve_references(self.config.durable.hub_name)
            connection = storage_connection_string("AzureWebJobsStorage")
        except (SettingMissingError, ValueError) as exc:
            return f"Durable Functions need AzureWebJobsStorage and the task hub name: {exc}"
        self.engine = DurableEngine(
            functions={spec.name: spec for spec in self.specs}, connection_string=connection, task_hub=hub,
            max_concurrent_activities=self.config.durable.max_concurrent_activities,
            max_concurrent_orchestrators=self.config.durable.max_concurrent_orchestrators,
        )
        self.invoker.use_durable_client(
            lambda: str(self.engine.client_payload(self.base_url, rpc_base_url=self.rpc_base_url)))
        logger.info("Durable task hub '%s'", hub)
        return None

    def _admin(self) -> AdminApi:
        calls: dict[str, AdminCall] = {}
        for listener in self.catalog.queues:
            calls[listener.spec.name] = self._admin_call(listener.spec, _queue_argument_for(listener.spec))
        for bus in self.catalog.buses:
            calls[bus.spec.name] = self._admin_call(bus.spec, _bus_argument_for(bus.spec))
        for job in self.catalog.timers:
            calls[job.spec.name] = self._admin_call(job.spec, _timer_argument_for(job))
        refusals = dict(self.catalog.unhosted)
        for function in self.catalog.http:
            refusals[function.spec.name] = f"'{function.spec.name}' is an HTTP function: call its route"
        for spec in self.catalog.durable:
            refusals[spec.name] = f"'{spec.name}' runs through the Durable Functions API, not the admin API"
        return AdminApi(calls=calls, refusals=refusals, keys=self.keys, invoker=self.invoker)

    def _admin_call(self, spec: FunctionSpec, argument: Callable[[str], Any]) -> AdminCall:
        """Run `spec` once with `argument(input text)`; failures are logged by `invoke`, not retried."""

        async def call(text: str) -> None:
            with contextlib.suppress(Exception):
                await self.invoker(spec, {str(spec.trigger["name"]): argument(text)})

        return call

    def _log_banner(self) -> None:
        logger.info("devhost listening on %s (route prefix '/%s')", self.base_url, self.config.route_prefix)
        logger.info("Functions:")
        for spec in self.specs:
            if spec.name in self.catalog.descriptions:
                logger.info("    %s: %s", spec.name, self.catalog.descriptions[spec.name])
        for spec in self.specs:
            if spec.name in self.catalog.unhosted:
                logger.warning("not hosting '%s' (%s): %s", spec.name, spec.trigger_type,
                               self.catalog.unhosted[spec.name])
        if not self.keys.enforced:
            logger.info("no keys configured: function and admin auth levels are open")
        elif self.keys.master_key is None:
            logger.warning("function keys but no DEVHOST_MASTER_KEY: admin level and /admin calls get 401")


DISABLED_SETTING = "AzureWebJobs.{}.Disabled"


def _disabled(name: str) -> bool:
    """Azure's switch for one function: `AzureWebJobs.<name>.Disabled` set to true."""
    return os.environ.get(DISABLED_SETTING.format(name), "").strip().lower() in ("true", "1")


def _switch_off_disabled(catalog: Catalog) -> None:
    """As on Azure: a disabled function's trigger stops (its route answers 404), but the admin API
    (the portal's Test/Run) still runs it."""
    catalog.http = [function for function in catalog.http if not _disabled(function.spec.name)]
    listeners: list[QueueListener | ServiceBusListener | TimerJob] = [
        *catalog.queues, *catalog.buses, *catalog.timers]
    for listener in listeners:
        if _disabled(listener.spec.name):
            catalog.disabled.add(listener.spec.name)
    for name in list(catalog.descriptions):
        if _disabled(name):
            catalog.descriptions[name] += f" [disabled by {DISABLED_SETTING.format(name)}]"


def _queue_argument_for(spec: FunctionSpec) -> Callable[[str], Any]:
    return lambda text: message_argument(spec, adhoc_message(text))


def _bus_argument_for(spec: FunctionSpec) -> Callable[[str], Any]:
    return lambda text: message_argument(spec, adhoc_bus_message(text))


def _timer_argument_for(job: TimerJob) -> Callable[[str], Any]:
    return lambda _text: job.request(past_due=False)
