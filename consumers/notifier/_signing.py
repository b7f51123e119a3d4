"""Webhook signatures, Stripe-style: ``X-Ixo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(
secret, "<t>.<raw body>")>``. The timestamp is signed too, so a captured request cannot be
replayed after ``tolerance_s``; receivers also dedupe by ``X-Ixo-Event-Id``."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

SIGNATURE_HEADER: Final = "X-Ixo-Signature"
EVENT_ID_HEADER: Final = "X-Ixo-Event-Id"
TOLERANCE_S: Final = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The value of the ``X-Ixo-Signature`` header for ``body`` sent at ``timestamp``."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, body, t)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs exactly ``body`` with ``secret`` and its timestamp is within
    ``tolerance_s`` of ``now``. Several ``v1=`` entries are accepted (secret rotation)."""
    if not header:
        return False
    stamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            stamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if stamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance_s:
        return False
    expected = signature(secret, body, stamp)
    return any(hmac.compare_digest(expected, c) for c in candidates)
