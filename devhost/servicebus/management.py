"""The `$management` node's request/response operations on one queue (or its dead-letter queue)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proton import UNDESCRIBED, Array, Data, symbol, timestamp

from devhost.servicebus import wire
from devhost.servicebus.store import LockLostError, MessageStore

VENDOR = "com.microsoft:"
LOCK_LOST = symbol(VENDOR + "message-lock-lost")
MESSAGE_NOT_FOUND = symbol(VENDOR + "message-not-found")
ARGUMENT_ERROR = symbol(VENDOR + "argument-error")
NOT_IMPLEMENTED = symbol("amqp:not-implemented")
MAX_PEEK = 1000


@dataclass
class Answer:
    """A management response: status code, description, body and (on failure) the error condition."""

    status: int
    description: str = "OK"
    body: Any = None
    condition: Any = None
    changed: set[tuple[str, bool]] = field(default_factory=set)  # sub-queues with new work


class RequestFailedError(Exception):
    def __init__(self, status: int, condition: Any, description: str) -> None:
        super().__init__(description)
        self.answer = Answer(status, description, None, condition)


def _elements(value: Any) -> list[Any]:
    if isinstance(value, Array):
        return list(value.elements)
    if isinstance(value, (list, tuple)):
        return list(value)
    raise RequestFailedError(400, ARGUMENT_ERROR, f"expected an array, got {type(value).__name__}")


def _long_array(values: Iterable[int]) -> Array:
    return Array(UNDESCRIBED,  # type: ignore[arg-type]
                  Data.LONG, *values)


class Operations:
    """Runs one request against the store for the entity the management link is attached to."""

    def __init__(self, store: MessageStore, *, queue: str, dead: bool) -> None:
        self._store = store
        self._queue = queue
        self._dead = dead
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Answer]] = {
            "peek-message": self._peek,
            "schedule-message": self._schedule,
            "cancel-scheduled-message": self._cancel,
            "renew-lock": self._renew,
            "receive-by-sequence-number": self._receive_deferred,
            "update-disposition": self._update_disposition,
        }

    def run(self, operation: str, body: Any) -> Answer:
        name = operation.removeprefix(VENDOR)
        handler = self._handlers.get(name)
        if handler is None:
            return Answer(
                501,
                f"The operation '{operation}' is not supported by the emulator "
                "(sessions, rules and transactions are not emulated).",
                None,
                NOT_IMPLEMENTED,
            )
        try:
            return handler(body if isinstance(body, Mapping) else {})
        except RequestFailedError as failure:
            return failure.answer
        except (KeyError, TypeError, ValueError) as exc:
            return Answer(400, f"Malformed request: {exc!r}", None, ARGUMENT_ERROR)

    def _peek(self, body: Mapping[str, Any]) -> Answer:
        count = min(int(body.get("message-count", 1)), MAX_PEEK)
        found = self._store.peek(
            self._queue, dead=self._dead, from_seq=int(body["from-sequence-number"]), count=count
        )
        if not found:
            return Answer(204, "No messages to peek")
        return Answer(
            200, body={"messages": [{"message": wire.outgoing(m, queue=self._queue)} for m in found]}
        )

    def _schedule(self, body: Mapping[str, Any]) -> Answer:
        numbers = []
        for entry in body["messages"]:
            incoming = wire.read_incoming(bytes(entry["message"]))
            if incoming.session_id:
                raise RequestFailedError(400, symbol("amqp:not-allowed"),
                                         "Sessions are not supported by the emulator.")
            seq = self._store.enqueue(
                self._queue,
                incoming.payload,
                message_id=incoming.message_id,
                ttl=incoming.ttl,
                scheduled_at=incoming.scheduled_at or 0.0,
            )
            numbers.append(seq if seq is not None else 0)
        return Answer(200, body={"sequence-numbers": _long_array(numbers)})

    def _cancel(self, body: Mapping[str, Any]) -> Answer:
        self._store.cancel_scheduled(self._queue, (int(n) for n in _elements(body["sequence-numbers"])))
        return Answer(200)

    def _renew(self, body: Mapping[str, Any]) -> Answer:
        expirations = []
        for token in _elements(body["lock-tokens"]):
            try:
                expirations.append(self._store.renew(self._queue, str(token)))
            except LockLostError:
                raise _lock_lost() from None
        stamps = [timestamp(int(value * 1000)) for value in expirations]
        return Answer(200, body={"expirations": Array(UNDESCRIBED,  # type: ignore[arg-type]
                  Data.TIMESTAMP, *stamps)})

    def _receive_deferred(self, body: Mapping[str, Any]) -> Answer:
        numbers = [int(n) for n in _elements(body["sequence-numbers"])]
        lock = int(body.get("receiver-settle-mode", 1)) != 0
        try:
            found = self._store.receive_deferred(self._queue, numbers, dead=self._dead, lock=lock)
        except LookupError as exc:
            raise RequestFailedError(
                404,
                MESSAGE_NOT_FOUND,
                f"Failed to lock one or more specified messages. Sequence number {exc.args[0]} "
                "was not found or is not deferred.",
            ) from None
        messages = []
        for message in found:
            entry: dict[str, Any] = {"message": wire.outgoing(message, queue=self._queue)}
            if message.lock_token:
                entry["lock-token"] = uuid.UUID(message.lock_token)
            messages.append(entry)
        return Answer(200, body={"messages": messages})

    def _update_disposition(self, body: Mapping[str, Any]) -> Answer:
        status = str(body["disposition-status"])
        tokens = [str(token) for token in _elements(body["lock-tokens"])]
        try:
            for token in tokens:
                settle(
                    self._store,
                    self._queue,
                    token,
                    status=status,
                    reason=body.get("deadletter-reason"),
                    description=body.get("deadletter-description"),
                )
        except LockLostError:
            raise _lock_lost() from None
        return Answer(200, changed={(self._queue, self._dead), (self._queue, True)})


def settle(
    store: MessageStore, queue: str, token: str, *, status: str, reason: Any = None, description: Any = None
) -> None:
    """Apply one settlement (the management link's names); LockLostError when the lock is gone."""
    if status == "completed":
        store.complete(queue, token)
    elif status == "abandoned":
        store.abandon(queue, token)
    elif status == "defered":
        store.defer(queue, token)
    elif status == "suspended":
        store.dead_letter(
            queue,
            token,
            reason=None if reason is None else str(reason),
            description=None if description is None else str(description),
        )
    elif status == "released":
        store.release(queue, token)
    else:
        raise ValueError(f"unknown disposition status {status!r}")


def _lock_lost() -> RequestFailedError:
    """The service's answer to settling or renewing a lock that expired or was already settled."""
    return RequestFailedError(
        410,
        LOCK_LOST,
        "The lock supplied is invalid. Either the lock expired, or the "
        "message has already been removed from the queue.",
    )
