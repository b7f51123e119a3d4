"""Webhook signatures: what a receiver checks (README example included)."""

from __future__ import annotations

import hashlib
import hmac

from consumers.notifier import sign, verify

SECRET = "ixosec_0123456789abcdef"
BODY = b'{"specversion":"1.0","id":"e1","type":"ixo.alert.triggered.v1"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_accepts_the_signed_body_within_tolerance() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    assert verify(SECRET, BODY, header, now=1_700_000_000)
    assert verify(SECRET, BODY, header, now=1_700_000_299)


def test_verify_rejects_tampering_replay_and_garbage() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    assert not verify(SECRET, BODY + b" ", header, now=1_700_000_000)
    assert not verify("ixosec_another_secret!", BODY, header, now=1_700_000_000)
    assert not verify(SECRET, BODY, header, now=1_700_000_301)  # replayed too late
    assert not verify(SECRET, BODY, header.replace("t=1700000000", "t=1700000001"), now=1.7e9)
    for bad in (None, "", "v1=abc", "t=1700000000", "t=soon,v1=00", "garbage"):
        assert not verify(SECRET, BODY, bad, now=1_700_000_000)


def test_verify_accepts_any_of_several_signatures_for_rotation() -> None:
    old = sign("ixosec_old_secret_value", BODY, 1_700_000_000).split(",")[1]
    header = sign(SECRET, BODY, 1_700_000_000) + "," + old
    assert verify(SECRET, BODY, header, now=1_700_000_000)
    assert verify("ixosec_old_secret_value", BODY, header, now=1_700_000_000)


def test_readme_receiver_example_verifies_like_the_library() -> None:
    import time

    def verified(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return abs(time.time() - t) <= tolerance and hmac.compare_digest(mac, parts["v1"])

    header = sign(SECRET, BODY)
    assert verified(SECRET, BODY, header)
    assert not verified(SECRET, BODY + b"x", header)
