"""Standard Webhooks signatures: sign what the worker sends, verify what an app receives.

The scheme (https://www.standardwebhooks.com): three headers,

    webhook-id         the message id, the same on every retry (receivers deduplicate on it)
    webhook-timestamp  unix seconds of this attempt
    webhook-signature  "v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>", several
                       separated by spaces while secrets rotate

Secrets are written "whsec_<base64 key>". During a rotation the sender signs with both the
old and the new secret, so receivers holding either one accept the request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Iterable, Mapping, Sequence

from pgtask.errors import PgTaskError

SECRET_PREFIX = "whsec_"
KEY_BYTES = (24, 64)  # the key sizes Standard Webhooks allows
DEFAULT_TOLERANCE = 300.0  # seconds a timestamp may be off, either way


class InvalidSignature(PgTaskError):
    """The request's webhook signature does not check out; the message says why."""


class SigningSecret:
    """A decoded webhook secret; its repr never shows the key."""

    __slots__ = ("key",)

    def __init__(self, key: bytes) -> None:
        low, high = KEY_BYTES
        if not low <= len(key) <= high:
            raise ValueError(
                f"a webhook secret must hold {low} to {high} bytes of key, this one holds "
                f"{len(key)}; make one with: python -c 'import pgtask; print(pgtask.new_secret())'")
        self.key = key

    @classmethod
    def parse(cls, text: str) -> SigningSecret:
        """A secret from its "whsec_<base64>" form. Errors never echo the secret."""
        text = text.strip()
        encoded = text[len(SECRET_PREFIX):] if text.startswith(SECRET_PREFIX) else text
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a webhook secret must be 'whsec_' followed by base64") from None
        return cls(key)

    def __repr__(self) -> str:
        return "SigningSecret(***)"

    __str__ = __repr__


def new_secret() -> str:
    """A fresh random secret in "whsec_<base64>" form (32 bytes of key)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def _secrets(secrets: str | SigningSecret | Iterable[str | SigningSecret]) -> list[SigningSecret]:
    if isinstance(secrets, (str, SigningSecret)):
        secrets = [secrets]
    parsed = [s if isinstance(s, SigningSecret) else SigningSecret.parse(s) for s in secrets]
    if not parsed:
        raise ValueError("no webhook secret given")
    return parsed


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


def _digest(secret: SigningSecret, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    return base64.b64encode(hmac.new(secret.key, signed, hashlib.sha256).digest()).decode()


def sign_webhook(msg_id: str, body: bytes | str,
                 secrets: str | SigningSecret | Sequence[str | SigningSecret],
                 timestamp: int | None = None) -> dict[str, str]:
    """The three webhook-* headers for `body`, signed with every secret given."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    raw = _as_bytes(body)
    signature = " ".join(f"v1,{_digest(s, msg_id, ts, raw)}" for s in _secrets(secrets))
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # a plain dict may spell the names in any case
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if not value:
        raise InvalidSignature(f"missing {name} header")
    return value


def verify_signature(body: bytes | str, headers: Mapping[str, str],
                     secrets: str | SigningSecret | Sequence[str | SigningSecret], *,
                     tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> str:
    """Check a pgtask (Standard Webhooks) request; return its webhook-id.

    `body` is the raw request body, exactly as received; `secrets` one secret or several (a
    receiver mid-rotation passes both). Raises InvalidSignature when a header is missing,
    the timestamp is more than `tolerance` seconds from `now`, or no signature matches.
    """
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    offered = _header(headers, "webhook-signature")
    try:
        ts = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a unix time in seconds") from None
    current = time.time() if now is None else now
    if ts < current - tolerance:
        raise InvalidSignature("webhook-timestamp is too old (replayed or delayed request?)")
    if ts > current + tolerance:
        raise InvalidSignature("webhook-timestamp is in the future (clock skew?)")
    raw = _as_bytes(body)
    candidates = [part.split(",", 1)[1] for part in offered.split()
                  if part.startswith("v1,")]
    for secret in _secrets(secrets):
        expected = _digest(secret, msg_id, ts, raw)
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return msg_id
    raise InvalidSignature("no webhook-signature matches (wrong secret or altered body)")
