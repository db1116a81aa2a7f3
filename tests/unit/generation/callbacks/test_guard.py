"""The callback URL guard: form, then every resolved address, with an injected resolver (no network)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from generation.callbacks import guard
from generation.callbacks.guard import (
    CallbackRefusedError,
    check_callback_url,
    parse_target,
    refusal_reason,
    system_resolver,
)


def resolver_of(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    return resolve


DNS = resolver_of({
    "hooks.example.com": ["93.184.216.34"],
    "v6.example.com": ["2606:2800:220:1:248:1893:25c6:1946"],
    "intranet.example.com": ["10.1.2.3"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.20"],
    "metadata.example.com": ["169.254.169.254"],
    "localhost": ["127.0.0.1", "::1"],
    "nowhere.example.com": [],
})


async def _check(url: object, *, loopback: bool = False) -> None:
    await check_callback_url(url, resolver=DNS, allow_loopback_http=loopback)


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/done",
    "https://hooks.example.com:8443/done?token=abc",
    "https://v6.example.com/x",
    "https://93.184.216.34/x",
    "https://hooks.example.com./x",
])
async def test_https_to_public_addresses_passes(url: str) -> None:
    await _check(url)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example.com/done", "must use https"),
    ("ftp://hooks.example.com/done", "must use https"),
    ("hooks.example.com/done", "must use https"),
    ("https://user:pw@hooks.example.com/", "must not carry credentials"),
    ("https:///nohost", "must name a host"),
    ("https://hooks.example.com:99999/", "invalid port"),
    ("https://hooks.example.com/" + "a" * 2100, "at most 2048"),
    ("https://bücher.example/", "ASCII"),
    ("https://intranet.example.com/", "private address"),
    ("https://mixed.example.com/", "private address"),
    ("https://metadata.example.com/latest/meta-data", "cloud metadata"),
    ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
    ("https://[fd00:ec2::254]/", "cloud metadata"),
    ("https://169.254.1.1/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://127.0.0.1/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://localhost/", "loopback"),
    ("https://[::ffff:10.0.0.1]/", "private"),
    ("https://[2002:a00:1::]/", "private"),  # 6to4 around 10.0.0.1
    ("https://10.0.0.1/", "private"),
    ("https://172.16.5.4/", "private"),
    ("https://192.168.0.1/", "private"),
    ("https://100.64.0.1/", "reserved"),
    ("https://0.0.0.0/", "private|reserved"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://240.0.0.1/", "private|reserved"),
    ("https://nowhere.example.com/", "does not resolve"),
    ("https://unknown.example.com/", "does not resolve"),
])
async def test_refused_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(CallbackRefusedError, match=reason):
        await _check(url)


async def test_a_url_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(CallbackRefusedError, match="must be a string"):
        await _check(42)


async def test_loopback_http_passes_only_when_allowed() -> None:
    await _check("http://127.0.0.1:8080/hook", loopback=True)
    await _check("http://localhost:8080/hook", loopback=True)
    await _check("https://[::1]:8443/hook", loopback=True)
    with pytest.raises(CallbackRefusedError, match="must use https"):
        await _check("http://127.0.0.1:8080/hook")


async def test_plain_http_stays_on_loopback_even_when_allowed() -> None:
    with pytest.raises(CallbackRefusedError, match="must use https"):
        await _check("http://hooks.example.com/", loopback=True)
    with pytest.raises(CallbackRefusedError, match="private"):
        await _check("https://intranet.example.com/", loopback=True)


def test_only_global_unicast_addresses_have_no_refusal() -> None:
    assert refusal_reason(ipaddress.ip_address("8.8.8.8")) is None
    assert refusal_reason(ipaddress.ip_address("2001:4860:4860::8888")) is None
    assert refusal_reason(ipaddress.ip_address("198.51.100.7")) is not None  # documentation range


def test_the_form_is_checked_without_resolving() -> None:
    target = parse_target("https://Hooks.Example.com:444/a?b=c", allow_loopback_http=False)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 444)


async def test_the_system_resolver_reads_literals_without_a_lookup() -> None:
    assert await system_resolver("127.0.0.1", 80) == ["127.0.0.1"]


async def test_a_name_server_that_does_not_answer_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "RESOLVE_TIMEOUT_SECONDS", 0.05)

    async def silent(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return ["93.184.216.34"]

    with pytest.raises(CallbackRefusedError, match="does not resolve"):
        await check_callback_url("https://slow.example.com/", resolver=silent, allow_loopback_http=False)
