"""SAS tokens as Service Bus checks them on the CBS `put-token` operation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, quote_plus, urlsplit

PREFIX = "SharedAccessSignature "


class TokenRejectedError(Exception):
    """The token is malformed, expired, signed with another key, or does not cover the audience."""


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: the entity path prefix it covers, until when."""

    path: str
    expires_at: float

    def covers(self, entity: str, now: float) -> bool:
        target = entity.strip("/").lower()
        return now < self.expires_at and (
            not self.path or target == self.path or target.startswith(self.path + "/")
        )


def _path(uri: str) -> str:
    parts = urlsplit(uri if "://" in uri else f"sb://{uri}")
    return parts.path.strip("/").lower()


def check_token(token: str, *, key_name: str, key: str, audience: str, now: float | None = None) -> Grant:
    """The grant a SAS token gives (signature, key name, expiry and scope checked)."""
    now = time.time() if now is None else now
    if not token.startswith(PREFIX):
        raise TokenRejectedError("InvalidToken: the token is not a SharedAccessSignature.")
    fields = {
        name: values[0] for name, values in parse_qs(token[len(PREFIX) :], keep_blank_values=True).items()
    }
    try:
        resource, signature, expiry, name = fields["sr"], fields["sig"], fields["se"], fields["skn"]
        expires_at = float(int(expiry))
    except (KeyError, ValueError) as exc:
        raise TokenRejectedError("InvalidToken: sr, sig, se and skn are required.") from exc
    expected = base64.b64encode(
        hmac.new(key.encode("utf-8"), f"{quote_plus(resource)}\n{expiry}".encode(), hashlib.sha256).digest()
    ).decode()
    if name != key_name or not hmac.compare_digest(expected, signature):
        raise TokenRejectedError("InvalidSignature: The token has an invalid signature.")
    if expires_at <= now:
        raise TokenRejectedError("ExpiredToken: The token is expired.")
    grant = Grant(path=_path(resource), expires_at=expires_at)
    if not grant.covers(_path(audience), now):
        raise TokenRejectedError("InvalidAudience: The token does not cover the requested audience.")
    return grant
