"""Messages on the wire: split what a sender transferred, and dress a stored message for delivery."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from proton import Data, Message, symbol, timestamp

from devhost.servicebus.records import Stored

DATA_SECTION = 0x75
SCHEDULED_ENQUEUE_TIME = symbol("x-opt-scheduled-enqueue-time")


@dataclass(frozen=True)
class Incoming:
    """One message a client sent, with what the broker reads from it."""

    payload: bytes
    message_id: str | None
    ttl: float | None
    scheduled_at: float | None
    session_id: str | None


def split_transfer(raw: bytes) -> list[bytes]:
    """The messages in one transfer: a batch (data sections that each hold an encoded message, after
    the first message's properties, as the SDKs send ServiceBusMessageBatch) or a single message."""
    inner: list[bytes] = []
    data = Data()
    offset = 0
    while offset < len(raw):
        data.clear()
        consumed = data.decode(raw[offset:])
        if consumed <= 0:
            return [raw]
        offset += consumed
        data.rewind()
        data.next()
        described = data.get_object()
        if getattr(described, "descriptor", None) != DATA_SECTION:
            continue
        value = getattr(described, "value", None)
        value = bytes(value) if isinstance(value, (bytes, memoryview)) else None
        if value is None or not value.startswith(b"\x00S"):
            return [raw]
        inner.append(value)
    return inner or [raw]


def read_incoming(payload: bytes) -> Incoming:
    """Raises ValueError for bytes that are not an AMQP message."""
    message = Message()
    try:
        message.decode(payload)
    except Exception as exc:
        raise ValueError(f"not an AMQP message: {exc}") from exc
    annotations: dict[Any, Any] = dict(message.annotations or {})
    scheduled = annotations.get(SCHEDULED_ENQUEUE_TIME)
    return Incoming(
        payload=payload,
        message_id=None if message.id is None else str(message.id),
        ttl=message.ttl or None,
        scheduled_at=float(scheduled) / 1000 if scheduled else None,
        session_id=message.group_id,
    )


def outgoing(stored: Stored, *, queue: str) -> bytes:
    """The stored message with the broker's properties, as the service delivers or returns it."""
    message = Message()
    message.decode(stored.payload)
    annotations = dict(message.annotations or {})
    annotations[symbol("x-opt-sequence-number")] = stored.seq
    annotations[symbol("x-opt-enqueued-time")] = timestamp(int(stored.enqueued_at * 1000))
    if stored.scheduled_at is not None:
        annotations[SCHEDULED_ENQUEUE_TIME] = timestamp(int(stored.scheduled_at * 1000))
    if stored.locked_until is not None:
        annotations[symbol("x-opt-locked-until")] = timestamp(int(stored.locked_until * 1000))
    if stored.lock_token is not None:
        annotations[symbol("x-opt-lock-token")] = uuid.UUID(stored.lock_token)
    if stored.dead:
        annotations[symbol("x-opt-deadletter-source")] = queue
        properties: dict[Any, Any] = dict(message.properties or {})
        if stored.dl_reason is not None:
            properties["DeadLetterReason"] = stored.dl_reason
        if stored.dl_description is not None:
            properties["DeadLetterErrorDescription"] = stored.dl_description
        message.properties = properties  # type: ignore[assignment]
    message.annotations = annotations
    # The AMQP header counts earlier failed deliveries: one less than the deliveries so far when
    # this one is under way (the SDKs for .NET and Java add the 1 back; Python shows it as is).
    # As the service does: the header's TTL is the one in force (the queue default when none was set).
    message.ttl = min(stored.expires_at - (stored.scheduled_at or stored.enqueued_at), MAX_TTL_SECONDS)
    count = max(stored.deliveries - (1 if stored.lock_token else 0), 0)
    return _with_header(bytes(message.encode()), message, delivery_count=count)


HEADER_SECTION = 0x70
MAX_TTL_SECONDS = (2**32 - 1) / 1000  # the header's TTL is a uint of milliseconds


def _with_header(encoded: bytes, message: Message, *, delivery_count: int) -> bytes:
    """Replace proton's header (which leaves a zero delivery count out; the SDK would read None)
    with one that states every field, as the service sends it."""
    header = Data()
    header.put_described()
    header.enter()
    header.put_ulong(HEADER_SECTION)
    header.put_list()
    header.enter()
    header.put_bool(bool(message.durable))
    header.put_ubyte(int(message.priority))
    if message.ttl:
        header.put_uint(int(message.ttl * 1000))
    else:
        header.put_null()
    header.put_bool(delivery_count == 0)
    header.put_uint(delivery_count)
    header.exit()
    header.exit()
    rest = encoded
    probe = Data()
    consumed = probe.decode(encoded)
    probe.rewind()
    probe.next()
    if getattr(probe.get_object(), "descriptor", None) == HEADER_SECTION:
        rest = encoded[consumed:]
    return bytes(header.encode()) + rest


def lock_tag(token: str) -> bytes:
    """The delivery tag that carries a lock token (the SDKs read it as a little-endian UUID)."""
    return uuid.UUID(token).bytes_le


def token_from_tag(tag: bytes | str) -> str:
    raw = tag.encode("latin-1") if isinstance(tag, str) else tag
    return str(uuid.UUID(bytes_le=bytes(raw)))
