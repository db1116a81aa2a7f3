"""The HTTP client of callbacks: connects only to addresses the guard approved, follows no redirect,
waits 5 s at most and never reads the receiver's body."""

from __future__ import annotations

import ipaddress
import logging
import socket
from contextvars import ContextVar
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from generation.callbacks.guard import (
    CallbackRefusedError,
    Resolver,
    Target,
    check_addresses,
    check_callback_url,
    is_literal,
    parse_target,
    resolve_checked,
    system_resolver,
)

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0


# The URL being sent by the running task; the connector resolves its host within that task.
_sending: ContextVar[Target | None] = ContextVar("callback_target", default=None)


class RefusedAddressError(OSError):
    """The guard refused what the host resolved to (an OSError, as the connector expects of a resolver)."""


class GuardedResolver(AbstractResolver):
    """Resolves a name once and hands the connector only addresses that pass the guard, so the
    address checked is the address connected to (no second lookup a rebinding could answer)."""

    def __init__(self, *, resolver: Resolver, allow_loopback_http: bool) -> None:
        self._resolver = resolver
        self._allow = allow_loopback_http

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        target = _sending.get()
        if target is None or target.host != host.rstrip(".").lower() or target.port != port:
            raise RefusedAddressError(f"{host} is not the callback being sent")  # no other lookups
        try:
            addresses = await resolve_checked(
                target, resolver=self._resolver, allow_loopback_http=self._allow
            )
        except CallbackRefusedError as exc:
            raise RefusedAddressError(str(exc)) from exc
        return [_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        return None


def _result(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    return {"hostname": host, "host": address, "port": port, "family": family, "proto": 0,
            "flags": socket.AI_NUMERICHOST}


@dataclass(frozen=True)
class SendResult:
    """The receiver's status, or None with `problem` when no answer came (timeout, refused, network)."""

    status: int | None
    problem: str | None = None
    refused: bool = False

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class CallbackSender:
    """One connection pool per process; each delivery resolves and checks its host again."""

    def __init__(
        self, *, resolver: Resolver = system_resolver, allow_loopback_http: bool = False,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self._allow = allow_loopback_http
        self._resolver = resolver
        guarded = GuardedResolver(resolver=resolver, allow_loopback_http=allow_loopback_http)
        # No DNS cache and no kept-alive connection: every delivery is checked afresh.
        connector = aiohttp.TCPConnector(resolver=guarded, use_dns_cache=False, force_close=True)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_seconds), trust_env=False,
            auto_decompress=False,
        )

    async def close(self) -> None:
        await self._session.close()

    async def check(self, url: str) -> Target:
        """The URL's target when its form and every address its host resolves to now pass the guard."""
        return await check_callback_url(url, resolver=self._resolver, allow_loopback_http=self._allow)

    async def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> SendResult:
        try:
            target = parse_target(url, allow_loopback_http=self._allow)
            if is_literal(target.host):  # the connector skips the resolver for literal addresses
                check_addresses(target, [target.host], allow_loopback_http=self._allow)
        except CallbackRefusedError as exc:
            return SendResult(status=None, problem=f"refused: {exc}", refused=True)
        token = _sending.set(target)
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as answer:
                return SendResult(status=answer.status)  # the body is left unread and dropped
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, RefusedAddressError):
                return SendResult(status=None, problem=f"refused: {exc.os_error}", refused=True)
            return SendResult(status=None, problem="connection failed")
        except TimeoutError:
            return SendResult(status=None, problem="timed out")
        except aiohttp.ClientError as exc:
            return SendResult(status=None, problem=type(exc).__name__)
        finally:
            _sending.reset(token)

