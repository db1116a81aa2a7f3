"""Function keys from settings: `DEVHOST_FUNCTION_KEYS` (comma list) and `DEVHOST_MASTER_KEY`."""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

FUNCTION_KEYS_SETTING = "DEVHOST_FUNCTION_KEYS"
MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
KEY_HEADER = "x-functions-key"


def _matches(candidate: str, keys: tuple[str, ...]) -> bool:
    # Header bytes that are not UTF-8 reach us as lone surrogates: no key has them, so no match.
    try:
        presented = candidate.encode("utf-8")
    except UnicodeEncodeError:
        return False
    # Compare against every key so the time taken does not tell which key came close.
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented, key.encode())
    return found


@dataclass(frozen=True)
class Keys:
    """The keys a request may present. With no key configured every auth level is open."""

    function_keys: tuple[str, ...] = ()
    master_key: str | None = None
    # The Durable extension's key (the host makes one up at start): its HTTP API takes it or the master.
    system_key: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Keys:
        source = os.environ if environ is None else environ
        listed = source.get(FUNCTION_KEYS_SETTING, "").split(",")
        function_keys = tuple(key.strip() for key in listed if key.strip())
        master = source.get(MASTER_KEY_SETTING, "").strip() or None
        return cls(function_keys=function_keys, master_key=master)

    @property
    def enforced(self) -> bool:
        return bool(self.function_keys) or self.master_key is not None

    def allows(self, level: str, presented: str | None) -> bool:
        """Whether a request presenting `presented` may call a function of auth level `level`."""
        level = level.lower()
        if level == "anonymous" or not self.enforced:
            return True
        if not presented:
            return False
        admin = (self.master_key,) if self.master_key else ()
        if level == "admin":
            return _matches(presented, admin)
        if level == "system":
            return _matches(presented, admin + ((self.system_key,) if self.system_key else ()))
        return _matches(presented, admin + self.function_keys)


def presented_key(request: web.Request, *, allow_query: bool = True) -> str | None:
    """The key a request carries: the `x-functions-key` header, else the `code` query parameter."""
    header = request.headers.get(KEY_HEADER)
    if header:
        return header
    return request.query.get("code") if allow_query else None
