"""Webhook signature check: the signature is the webhook's only authentication."""

from __future__ import annotations

import base64
import hashlib
import hmac


def expected_signature(channel_secret: str, body: bytes) -> str:
    """Base64 of HMAC-SHA256 over the raw request body, keyed with the channel secret."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_is_valid(channel_secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` (the `x-line-signature` header) matches the raw body, in constant time.

    The raw bytes are signed, not a decoded and re-encoded string, so any change to the body,
    even one that would survive decoding, makes the check fail.
    """
    if not signature:
        return False
    expected = expected_signature(channel_secret, body).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))
