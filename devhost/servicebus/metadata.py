"""What a Service Bus trigger parameter receives: `func.ServiceBusMessage` with the host's metadata."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage as WorkerServiceBusMessage
from azure.servicebus import ServiceBusReceivedMessage


def _text(value: Any) -> Any:
    # The SDK hands application properties over with bytes keys and bytes string values.
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _str(value: Any) -> str | None:
    return None if value is None else str(_text(value))


def message_body(message: ServiceBusReceivedMessage) -> bytes:
    body = message.body
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return b"".join(bytes(chunk) for chunk in body)


def to_function_message(message: ServiceBusReceivedMessage) -> func.ServiceBusMessage:
    """As the Functions host converts it; delivery_count counts this delivery (the host's, .NET, view)."""
    properties = {_text(key): _text(value) for key, value in (message.application_properties or {}).items()}
    metadata = {
        "MessageId": message.message_id,
        "SequenceNumber": message.sequence_number,
        "DeliveryCount": (message.delivery_count or 0) + 1,
        "LockToken": str(message.lock_token),
        "EnqueuedTimeUtc": message.enqueued_time_utc.isoformat() if message.enqueued_time_utc else None,
        "ContentType": message.content_type,
        "CorrelationId": _str(message.correlation_id),
        "Label": message.subject,
        "UserProperties": properties,
        "ApplicationProperties": properties,
    }
    return WorkerServiceBusMessage(
        body=message_body(message),
        trigger_metadata=metadata,
        application_properties=properties,
        content_type=message.content_type,
        correlation_id=_str(message.correlation_id),
        dead_letter_error_description=message.dead_letter_error_description,
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_source=message.dead_letter_source,
        delivery_count=(message.delivery_count or 0) + 1,
        enqueued_sequence_number=message.enqueued_sequence_number,
        enqueued_time_utc=message.enqueued_time_utc,
        expires_at_utc=message.expires_at_utc,
        label=message.subject,
        locked_until=message.locked_until_utc,
        lock_token=str(message.lock_token),
        message_id=str(message.message_id),
        partition_key=message.partition_key,
        reply_to=message.reply_to,
        reply_to_session_id=message.reply_to_session_id,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time_utc,
        sequence_number=message.sequence_number,
        session_id=message.session_id,
        state=None,
        subject=message.subject,
        time_to_live=message.time_to_live,
        to=message.to,
        transaction_partition_key=None,
        user_properties=properties,
    )


def adhoc_bus_message(text: str) -> func.ServiceBusMessage:
    """A message for a portal-style invocation: never came from a queue, delivered once."""
    now = datetime.now(UTC)
    return WorkerServiceBusMessage(
        body=text.encode("utf-8"),
        application_properties={},
        message_id=str(uuid.uuid4()),
        delivery_count=1,
        enqueued_time_utc=now,
        expires_at_utc=now + timedelta(days=14),
        user_properties={},
    )
