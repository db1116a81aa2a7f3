"""Helpers for the broker's links: refusals, filters, error conditions, and request/response replies."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from proton import Condition, Delivery, Endpoint, Message, symbol

from devhost.servicebus.auth import TokenRejectedError, check_token
from devhost.servicebus.entities import NamespaceConfig
from devhost.servicebus.management import Answer

logger = logging.getLogger(__name__)


def refuse(link: Any, condition: str, description: str) -> None:
    """Answer an attach with the service's error: attach without a terminus, then detach with it."""
    link.condition = Condition(condition, description)
    link.open()
    link.close()


def put_token(namespace: NamespaceConfig, link: Any, request: Message) -> Message:
    """The CBS answer to a put-token request; a valid token's grant is kept on the connection."""
    properties: dict[Any, Any] = dict(request.properties or {})
    audience = str(properties.get("name", ""))
    try:
        grant = check_token(
            str(request.body), key_name=namespace.key_name, key=namespace.key, audience=audience
        )
    except TokenRejectedError as exc:
        logger.warning("CBS put-token for %s refused: %s", audience, exc)
        return Message(properties={"status-code": 401, "status-description": str(exc)})
    link.connection.sb_grants.append(grant)
    return Message(properties={"status-code": 202, "status-description": "Accepted"})


def reply_on(request_link: Any, reply: Message) -> None:
    """Send on the connection's sender link for the same node (the SDKs pair them by address)."""
    address = request_link.remote_target.address
    link = request_link.connection.link_head(Endpoint.LOCAL_ACTIVE)
    while link is not None:
        if link.is_sender and link.remote_source.address == address:
            link.sb_replies = [*getattr(link, "sb_replies", []), reply]
            flush_replies(link)
            return
        link = link.next(Endpoint.LOCAL_ACTIVE)
    logger.warning("no reply link for %s; response dropped", address)


def flush_replies(link: Any) -> None:
    pending = getattr(link, "sb_replies", [])
    while pending and link.credit > 0:
        delivery = link.send(pending.pop(0))
        delivery.settle()
    link.sb_replies = pending


def filters(link: Any) -> dict[Any, Any]:
    """The source's filter map (where a session receiver names its session)."""
    data = link.remote_source.filter
    data.rewind()
    if data.next() is None:
        return {}
    found = data.get_object()
    return dict(found) if isinstance(found, dict) else {}


def condition(name: str, description: str) -> Condition:
    # With an info map, as the service sends: the SDK reads the error as [condition, description, info].
    return Condition(name, description, {symbol("com.microsoft:tracking-id"): str(uuid.uuid4())})


def management_reply(answer: Answer) -> Message:
    properties: dict[str, Any] = {"statusCode": answer.status, "statusDescription": answer.description}
    if answer.condition is not None:
        properties["errorCondition"] = answer.condition
    return Message(properties=properties, body=answer.body)


# A client's disposition on a message it received: the management link's settlement names.
_OUTCOMES = {Delivery.ACCEPTED: "completed", Delivery.RELEASED: "released", Delivery.REJECTED: "suspended"}


def requested_settlement(delivery: Any) -> tuple[str, Any, Any]:
    """(settlement, dead-letter reason, description) a client's disposition asks for."""
    state, remote = delivery.remote_state, delivery.remote
    if state == Delivery.MODIFIED:
        status = "defered" if remote.undeliverable else "abandoned"
    else:
        status = _OUTCOMES.get(state, "released")
    info = (remote.condition.info if remote.condition is not None else None) or {}
    return status, info.get("DeadLetterReason"), info.get("DeadLetterErrorDescription")


def echo_outcome(delivery: Any) -> None:
    """Confirm the outcome applied, echoing the requested one as the service does (the SDK awaits it)."""
    state, remote = delivery.remote_state, delivery.remote
    if state == Delivery.MODIFIED:
        delivery.local.failed = remote.failed
        delivery.local.undeliverable = remote.undeliverable
    known = (Delivery.ACCEPTED, Delivery.MODIFIED, Delivery.REJECTED)
    delivery.update(state if state in known else Delivery.RELEASED)


def reject(delivery: Any, name: str, description: str) -> None:
    delivery.local.condition = condition(name, description)
    delivery.update(Delivery.REJECTED)
