"""Secrets at rest under server keys: webhook signing secrets travel on topics and sit in Redis
only as Fernet tokens (AES-128-CBC + HMAC-SHA256, from ``cryptography``; we write no crypto).

Keys come from ``IXO_SECRETS_KEYS`` (comma-separated Fernet keys): the first encrypts, every one
decrypts (``MultiFernet``). Rotation: put a new key first, restart the writers and readers,
re-encrypt what was written under the old keys (:meth:`SecretBox.rotate`), then drop the old
key. Without the setting, a key is generated once and kept in ``<IXO_STATE_DIR>/secrets.key``
(mode 0600) for local use: every process of one machine shares it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from schemas import PermanentError

if TYPE_CHECKING:
    from infra.settings import Settings

KEY_FILE: Final = "secrets.key"


class SecretUnreadable(PermanentError):  # noqa: N818 - a verdict
    """A token none of the configured keys decrypts (a key was dropped too early, or the token
    was altered)."""


def new_key() -> str:
    """A fresh Fernet key (URL-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str) -> list[str]:
    """Comma-separated Fernet keys, checked; ValueError says which one is bad (not its value)."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            msg = f"key {n} of IXO_SECRETS_KEYS is not a Fernet key (32 url-safe base64 bytes)"
            raise ValueError(msg) from None
    return keys


def local_key(state_dir: Path) -> str:
    """The machine's own key, ``<state_dir>/secrets.key``: created once (mode 0600) if absent."""
    path = state_dir / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="ascii").strip()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key


class SecretBox:
    """Encrypts and decrypts short secrets under server keys (first encrypts, all decrypt)."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            msg = "SecretBox needs at least one key"
            raise ValueError(msg)
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            msg = "a secret cannot be decrypted with the configured IXO_SECRETS_KEYS"
            raise SecretUnreadable(msg) from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the first key (for re-encryption after rotation)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            msg = "a secret cannot be decrypted with the configured IXO_SECRETS_KEYS"
            raise SecretUnreadable(msg) from None


def secret_box(settings: Settings) -> SecretBox:
    """The box of these settings: ``IXO_SECRETS_KEYS``, or the state dir's local key."""
    keys = parse_keys(settings.secrets_keys.get_secret_value())
    return SecretBox(keys or [local_key(settings.state_dir)])
