"""The AMQP side of the emulator: connections, CBS, links to queues and `$management`, deliveries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from proton import Delivery, Endpoint, Handler, Link, Message, Sender, Terminus, symbol

from devhost.servicebus import wire
from devhost.servicebus.entities import STANDARD_MAX_MESSAGE_BYTES, NamespaceConfig, entity_parts
from devhost.servicebus.links import (
    echo_outcome,
    filters,
    flush_replies,
    management_reply,
    put_token,
    refuse,
    reject,
    reply_on,
    requested_settlement,
)
from devhost.servicebus.management import Operations, settle
from devhost.servicebus.store import LockLostError, MessageStore

logger = logging.getLogger(__name__)

CBS = "$cbs"
MANAGEMENT_SUFFIX = "/$management"
SESSION_FILTER = symbol("com.microsoft:session-filter")
LOCK_LOST = "com.microsoft:message-lock-lost"
TICK_SECONDS = 0.2
CREDIT = 100
LOCK_LOST_TEXT = ("The lock supplied is invalid. Either the lock expired, or the message has already been "
                  "removed from the queue.")


class Broker(Handler):
    """One namespace served on one port; runs on the container's thread only.

    Proton's endpoints are typed as optional unions and carry the attributes set on them here
    (sb_kind, sb_queue, ...), so they are handled as Any."""

    def __init__(self, store: MessageStore, namespace: NamespaceConfig, *, address: str,
                 on_ready: Callable[[], None]) -> None:
        super().__init__()
        self._store = store
        self._namespace = namespace
        self._address = address
        self._on_ready = on_ready
        self._receivers: dict[tuple[str, bool], list[Sender]] = {}  # client receivers by sub-queue
        self._container: Any = None

    # --- lifecycle -------------------------------------------------------------------------
    def on_reactor_init(self, event: Any) -> None:
        self._container = event.container
        event.container.listen(self._address)
        event.container.schedule(TICK_SECONDS, self)
        self._on_ready()

    def on_servicebus_emulator_stop(self, _event: Any) -> None:
        self._container.stop()

    def on_timer_task(self, event: Any) -> None:
        self._store.sweep()
        for key in list(self._receivers):
            for link in self._receivers[key]:
                link.sb_paused = False  # a link that released a message gets it again a tick later
            self._dispatch_all(key)
        event.container.schedule(TICK_SECONDS, self)

    def on_connection_bound(self, event: Any) -> None:
        # The SDKs offer SASL ANONYMOUS and authenticate afterwards with a CBS token.
        sasl = event.transport.sasl()
        sasl.allowed_mechs("ANONYMOUS PLAIN")
        event.connection.sb_grants = []

    def on_connection_remote_open(self, event: Any) -> None:
        event.connection.open()

    def on_session_remote_open(self, event: Any) -> None:
        event.session.open()

    def on_link_remote_close(self, event: Any) -> None:
        self._forget(event.link)
        event.link.close()

    def on_session_remote_close(self, event: Any) -> None:
        event.session.close()

    def on_connection_remote_close(self, event: Any) -> None:
        self._forget_connection(event.connection)
        event.connection.close()

    def on_transport_closed(self, event: Any) -> None:
        if event.connection is not None:
            self._forget_connection(event.connection)

    def _forget_connection(self, connection: Any) -> None:
        link = connection.link_head(0)
        while link is not None:
            self._forget(link)
            link = link.next(0)

    def _forget(self, link: Any) -> None:
        key = getattr(link, "sb_queue", None)
        if key is not None and link in self._receivers.get(key, []):
            self._receivers[key].remove(link)

    # --- attach ----------------------------------------------------------------------------
    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        address = (link.remote_source.address if link.is_sender else link.remote_target.address) or ""
        coordinator = link.remote_target.type == Terminus.COORDINATOR
        if coordinator or (link.is_receiver and link.remote_target.address is None):
            refuse(link, "amqp:not-implemented", "Transactions are not supported by the emulator.")
            return
        if address == CBS:
            self._open(link, kind="cbs")
            return
        mgmt = address.lower().endswith(MANAGEMENT_SUFFIX)
        entity = address[: -len(MANAGEMENT_SUFFIX)] if mgmt else address
        queue, dead = entity_parts(entity)
        config = self._namespace.queue(queue)
        if config is None:
            missing = (f"The messaging entity '{address}' could not be found. "
                       "The emulator hosts queues only (no topics or subscriptions).")
            if link.is_receiver:
                # A sender's attach is accepted and its sends answered with the error: the SDK's sender
                # then raises MessagingEntityNotFoundError (a refused attach reaches it as a failed send).
                link.sb_missing = missing
                self._open(link, kind="missing")
            else:
                refuse(link, "amqp:not-found", missing)
            return
        if not self._authorized(link, f"{queue}/$deadletterqueue" if dead else queue):
            refuse(link, "amqp:unauthorized-access", f"Unauthorized access to '{address}': no token.")
            return
        if link.is_sender and SESSION_FILTER in filters(link):
            refuse(link, "amqp:not-implemented", "Sessions are not supported by the emulator.")
            return
        link.sb_queue = (config.name, dead)
        if mgmt:
            link.sb_ops = Operations(self._store, queue=config.name, dead=dead)
        self._open(link, kind="mgmt" if mgmt else "queue")
        if link.is_sender and not mgmt:
            self._receivers.setdefault(link.sb_queue, []).append(link)

    def _open(self, link: Any, *, kind: str) -> None:
        link.sb_kind = kind
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        if link.is_receiver:
            link.max_message_size = STANDARD_MAX_MESSAGE_BYTES
            link.flow(CREDIT)
        link.open()

    def _authorized(self, link: Any, entity: str) -> bool:
        now = time.time()
        return any(grant.covers(entity, now) for grant in link.connection.sb_grants)

    # --- transfers -------------------------------------------------------------------------
    def on_link_flow(self, event: Any) -> None:
        link = event.link
        if link.is_sender and getattr(link, "sb_kind", None) == "queue":
            link.sb_paused = False  # fresh credit: the client wants messages again
            self._dispatch(link)
        elif link.is_sender:
            flush_replies(link)

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        link = delivery.link
        if link.is_sender:
            # A disposition may come settled already (a release the client does not wait on).
            if (
                delivery.updated
                and getattr(delivery, "sb_token", None)
                and not getattr(delivery, "sb_done", False)
            ):
                delivery.sb_done = True
                self._settle(link, delivery)
            return
        if not delivery.readable or delivery.partial:
            return
        raw = link.recv(delivery.pending)
        link.advance()
        kind = getattr(link, "sb_kind", None)
        if kind == "queue":
            self._accept_send(link, delivery, raw)
        elif kind == "missing":
            reject(delivery, "amqp:not-found", link.sb_missing)
            delivery.settle()
        elif kind is not None:
            self._request(link, delivery, raw)
        else:  # a transfer racing the detach of a refused link
            delivery.update(Delivery.RELEASED)
            delivery.settle()
        if link.credit < CREDIT // 2:
            link.flow(CREDIT - link.credit)

    def _accept_send(self, link: Any, delivery: Any, raw: bytes) -> None:
        queue, dead = link.sb_queue
        error = None
        if dead:
            error = ("amqp:not-allowed", "Cannot send to a dead-letter queue.")
        elif len(raw) > STANDARD_MAX_MESSAGE_BYTES:
            error = (
                "amqp:link:message-size-exceeded",
                f"The received message (size {len(raw)} bytes) exceeds the limit "
                f"({STANDARD_MAX_MESSAGE_BYTES} bytes) currently allowed on the link.",
            )
        if error is None:
            error = self._store_all(queue, wire.split_transfer(raw))
        if error is not None:
            reject(delivery, *error)
        else:
            delivery.update(Delivery.ACCEPTED)
        delivery.settle()
        self._dispatch_all((queue, False))

    def _store_all(self, queue: str, payloads: list[bytes]) -> tuple[str, str] | None:
        try:
            messages = [wire.read_incoming(payload) for payload in payloads]
        except ValueError as exc:
            return "amqp:decode-error", str(exc)
        if any(message.session_id for message in messages):
            return "amqp:not-allowed", "Sessions are not supported by the emulator (session_id was set)."
        for message in messages:
            self._store.enqueue(
                queue,
                message.payload,
                message_id=message.message_id,
                ttl=message.ttl,
                scheduled_at=message.scheduled_at,
            )
        return None

    def _dispatch_all(self, key: tuple[str, bool]) -> None:
        for link in list(self._receivers.get(key, [])):
            self._dispatch(link)

    def _dispatch(self, link: Any) -> None:
        queue, dead = link.sb_queue
        if getattr(link, "sb_paused", False):
            return
        presettled = link.remote_snd_settle_mode == Link.SND_SETTLED
        while link.credit > 0 and link.state & Endpoint.LOCAL_ACTIVE:
            message = self._store.take_next(queue, dead=dead, lock=not presettled)
            if message is None:
                break
            tag = wire.lock_tag(message.lock_token) if message.lock_token else str(message.seq).encode()
            delivery = link.delivery(tag)
            link.stream(wire.outgoing(message, queue=queue))
            link.advance()
            if presettled:
                delivery.settle()
            else:
                delivery.sb_token = message.lock_token
        if link.drain_mode and link.credit > 0:
            link.drained()

    def _settle(self, link: Any, delivery: Any) -> None:
        """A client's disposition of a message it received on this link, answered as the service does."""
        queue, dead = link.sb_queue
        status, reason, description = requested_settlement(delivery)
        try:
            settle(self._store, queue, delivery.sb_token, status=status, reason=reason,
                   description=description)
        except LockLostError:
            reject(delivery, LOCK_LOST, LOCK_LOST_TEXT)
        else:
            echo_outcome(delivery)
        delivery.settle()
        if status == "released":
            # The client gave it back unseen (it was not receiving): offer it elsewhere, and to this
            # link once it asks again or on the next tick, or the two would toss it back and forth.
            link.sb_paused = True
        if status != "completed":
            self._dispatch_all((queue, dead))

    # --- request/response nodes ------------------------------------------------------------
    def _request(self, link: Any, delivery: Any, raw: bytes) -> None:
        request = Message()
        request.decode(raw)
        delivery.update(Delivery.ACCEPTED)
        delivery.settle()
        if link.sb_kind == "cbs":
            reply = put_token(self._namespace, link, request)
        else:
            properties: dict[Any, Any] = dict(request.properties or {})
            answer = link.sb_ops.run(str(properties.get("operation", "")), request.body)
            reply = management_reply(answer)
            for key in answer.changed:
                self._dispatch_all(key)
        reply.correlation_id = request.id
        reply.address = request.reply_to or ""
        reply_on(link, reply)
