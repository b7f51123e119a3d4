"""Secrets under server keys: encryption, rotation, the local key file, the settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from infra.secrets import (
    KEY_FILE,
    SecretBox,
    SecretUnreadable,
    local_key,
    new_key,
    parse_keys,
    secret_box,
)
from infra.settings import Settings

PLAIN = "ixosec_unit_secret_0123456789"


def test_a_secret_round_trips_and_its_token_does_not_contain_it() -> None:
    box = SecretBox([new_key()])
    token = box.encrypt(PLAIN)
    assert PLAIN not in token
    assert box.encrypt(PLAIN) != token  # a fresh IV each time
    assert box.decrypt(token) == PLAIN


def test_rotation_first_key_encrypts_every_key_decrypts() -> None:
    old, new = new_key(), new_key()
    before = SecretBox([old]).encrypt(PLAIN)
    rotated_box = SecretBox([new, old])
    assert rotated_box.decrypt(before) == PLAIN
    rotated = rotated_box.rotate(before)
    assert SecretBox([new]).decrypt(rotated) == PLAIN
    with pytest.raises(SecretUnreadable):
        SecretBox([new]).decrypt(before)  # the old key is still needed until re-encrypted


def test_a_token_of_another_key_or_altered_is_unreadable_without_echoing_it() -> None:
    token = SecretBox([new_key()]).encrypt(PLAIN)
    box = SecretBox([new_key()])
    with pytest.raises(SecretUnreadable) as err:
        box.decrypt(token)
    assert token not in str(err.value)
    with pytest.raises(SecretUnreadable):
        box.decrypt("not a token")


def test_keys_are_checked_and_bad_ones_are_not_echoed() -> None:
    good = new_key()
    assert parse_keys(f" {good} ,, ") == [good]
    with pytest.raises(ValueError, match="key 2") as err:
        parse_keys(f"{good},tooshort")
    assert "tooshort" not in str(err.value)
    with pytest.raises(ValidationError) as invalid:
        Settings(secrets_keys=SecretStr("x" * 20))
    assert "x" * 20 not in str(invalid.value)


def test_without_keys_one_is_made_once_under_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = Settings(state_dir=state)
    token = secret_box(settings).encrypt(PLAIN)
    path = state / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_key(state) == path.read_text().strip()
    assert secret_box(Settings(state_dir=state)).decrypt(token) == PLAIN  # another process


def test_configured_keys_win_over_the_local_file(tmp_path: Path) -> None:
    key = new_key()
    settings = Settings(state_dir=tmp_path, secrets_keys=SecretStr(key))
    token = secret_box(settings).encrypt(PLAIN)
    assert SecretBox([key]).decrypt(token) == PLAIN
    assert not (tmp_path / KEY_FILE).exists()
