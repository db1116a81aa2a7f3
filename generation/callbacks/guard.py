"""The SSRF guard of callback URLs: HTTPS to public addresses only, checked after DNS resolution.

A name is resolved once per check and the connection goes to the addresses that check approved
(see `sender.GuardedResolver`), so a name that resolves to a public address at submit and to a
private one later (DNS rebinding) is refused at delivery.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
RESOLVE_TIMEOUT_SECONDS = 3.0
# Cloud instance metadata endpoints, named for a clearer refusal (each is also non-public anyway).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (as text); raises OSError when it resolves to none.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class CallbackRefusedError(Exception):
    """A callback URL the guard will not call; the message says why, in words fit for a client."""


@dataclass(frozen=True)
class Target:
    """A callback URL taken apart: only these parts are ever used to connect."""

    url: str
    scheme: str
    host: str
    port: int


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves `host` to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_target(url: object, *, allow_loopback_http: bool) -> Target:
    """Check a callback URL's form (no resolution yet): an absolute https URL (http only when
    loopback HTTP is allowed), no credentials, a host, a valid port."""
    if not isinstance(url, str):
        raise CallbackRefusedError("must be a string")
    if not url or len(url) > MAX_URL_CHARS or not url.isascii() or not url.isprintable() or " " in url:
        raise CallbackRefusedError(f"must be an absolute URL of at most {MAX_URL_CHARS} ASCII characters")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_loopback_http else ("https",)
    if parts.scheme not in schemes:
        raise CallbackRefusedError("must use https")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefusedError("must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackRefusedError("has an invalid port") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise CallbackRefusedError("must name a host")
    return Target(url=url, scheme=parts.scheme, host=host, port=port)


def is_literal(host: str) -> bool:
    """Whether the host is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, 6to4 or Teredo IPv6 address (they reach it)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None:
            return inner
    return address


# The first matching kind names the refusal; anything not globally routable is refused.
_KINDS: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("a cloud metadata", lambda a: a in METADATA_ADDRESSES),
    ("a loopback", lambda a: a.is_loopback),
    ("a link-local", lambda a: a.is_link_local),
    ("a multicast", lambda a: a.is_multicast),
    ("a private", lambda a: a.is_private),
    ("a reserved", lambda a: a.is_reserved or a.is_unspecified or not a.is_global),
)


def refusal_reason(address: IPAddress) -> str | None:
    """Why a connection to `address` is refused, or None for a public unicast address."""
    address = _embedded_ipv4(address)
    for kind, matches in _KINDS:
        if matches(address):
            return f"resolves to {kind} address"
    return None


def check_addresses(target: Target, addresses: list[str], *, allow_loopback_http: bool) -> list[str]:
    """The addresses, when every one may be called for `target`; otherwise CallbackRefusedError.

    Every address must pass, not just one: the client could connect to any of them. With loopback
    HTTP allowed (local development), loopback addresses pass, and plain http must stay on them.
    """
    if not addresses:
        raise CallbackRefusedError("does not resolve")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        loopback = _embedded_ipv4(address).is_loopback
        reason = None if loopback and allow_loopback_http else refusal_reason(address)
        if reason is not None:
            raise CallbackRefusedError(reason)
        if target.scheme == "http" and not loopback:
            raise CallbackRefusedError("must use https")
    return addresses


async def resolve_checked(target: Target, *, resolver: Resolver, allow_loopback_http: bool) -> list[str]:
    """Resolve the target's host (a literal address is its own) and check every address."""
    try:
        if is_literal(target.host):
            addresses = [target.host]
        else:
            # Submit waits for this: a name server that does not answer must not hold the request.
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                addresses = await resolver(target.host, target.port)
    except (OSError, UnicodeError, TimeoutError):
        raise CallbackRefusedError("does not resolve") from None
    return check_addresses(target, addresses, allow_loopback_http=allow_loopback_http)


async def check_callback_url(url: object, *, resolver: Resolver, allow_loopback_http: bool) -> Target:
    """A callback URL checked in form and by every address its host resolves to now."""
    target = parse_target(url, allow_loopback_http=allow_loopback_http)
    await resolve_checked(target, resolver=resolver, allow_loopback_http=allow_loopback_http)
    return target
