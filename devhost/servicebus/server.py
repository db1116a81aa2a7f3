"""Run the emulator on its own thread (proton's reactor is not asyncio) and stop it cleanly."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from proton.reactor import ApplicationEvent, Container, EventInjector

from devhost.servicebus.broker import Broker
from devhost.servicebus.entities import NamespaceConfig
from devhost.servicebus.store import MessageStore

logger = logging.getLogger(__name__)

STOP_EVENT = "servicebus_emulator_stop"  # handled by Broker.on_servicebus_emulator_stop


class Emulator:
    """A Service Bus namespace on 127.0.0.1:`port` with its messages in `data_dir`."""

    def __init__(
        self, namespace: NamespaceConfig, *, port: int, data_dir: Path, host: str = "127.0.0.1"
    ) -> None:
        self.namespace = namespace
        self.port = port
        self.host = host
        self.data_dir = data_dir
        self.store: MessageStore | None = None
        self._thread: threading.Thread | None = None
        self._injector = EventInjector()
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://{self.host}:{self.port};SharedAccessKeyName={self.namespace.key_name};"
            f"SharedAccessKey={self.namespace.key};UseDevelopmentEmulator=true"
        )

    def start(self, timeout: float = 10.0) -> None:
        self.store = MessageStore(self.data_dir / "servicebus.db", self.namespace)
        broker = Broker(
            self.store, self.namespace, address=f"{self.host}:{self.port}", on_ready=self._ready.set
        )
        container = Container(broker)
        container.selectable(self._injector)
        self._thread = threading.Thread(
            target=self._run, args=(container,), name="servicebus-emulator", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout) or self._failure is not None:
            raise RuntimeError(
                f"the Service Bus emulator did not start on port {self.port}"
            ) from self._failure
        logger.info(
            "Service Bus emulator on sb://%s:%d (queues: %s; data in %s)",
            self.host,
            self.port,
            ", ".join(q.name for q in self.namespace.queues.values()),
            self.data_dir,
        )

    def _run(self, container: Container) -> None:
        try:
            container.run()
        except BaseException as exc:  # the thread's end is the only place to see it
            self._failure = exc
            self._ready.set()
            logger.exception("the Service Bus emulator stopped with an error")

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._injector.trigger(ApplicationEvent(STOP_EVENT))
            self._thread.join(timeout)
            self._thread = None
        if self.store is not None:
            self.store.close()
            self.store = None
