"""Secrets never reach a log line, whoever logs them (our code or a library's)."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from infra.logs import configure_logging, secret_values
from infra.settings import Settings

TOKEN = "123456:AAE-telegram-bot-token-value"


def test_every_secret_of_the_settings_is_known() -> None:
    settings = Settings(
        telegram_token=SecretStr(TOKEN), llm_api_key=SecretStr("sk-live-abcdefgh"), _env_file=None
    )
    found = secret_values(settings)
    assert TOKEN in found
    assert "sk-live-abcdefgh" in found


def fail(message: str) -> None:
    raise RuntimeError(message)


@pytest.mark.parametrize("json", [False, True])
def test_a_library_logging_a_url_with_a_token_is_redacted(
    capsys: pytest.CaptureFixture[str], json: bool
) -> None:
    configure_logging("INFO", json=json, secrets=[TOKEN])
    try:
        logging.getLogger("aiohttp.client").info(
            "POST https://api.telegram.org/bot%s/sendMessage", TOKEN
        )
        try:
            fail(f"failed for bot{TOKEN}")
        except RuntimeError:
            logging.getLogger("ixo.test").exception("delivery failed", extra={"url": TOKEN})
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert err.count("***") >= 3
    assert "sendMessage" in err
