"""The one settings class: environment variables with the ``IXO_`` prefix, validated at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "impressox"


class Settings(BaseSettings):
    """Every knob of Impressox. Pass an instance in; never read ``os.environ`` deep in the code."""

    model_config = SettingsConfigDict(env_prefix="IXO_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_linger_ms: int = Field(default=5, ge=0, le=1000)
    mongodb_url: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "impressox"
    redis_url: str = "redis://127.0.0.1:6379/0"
    qdrant_url: str = ""
    eth_rpc_url: str = "http://127.0.0.1:8545"
    llm_base_url: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_model: str = ""
    telegram_token: SecretStr = SecretStr("")
    telegram_api_url: str = "https://api.telegram.org"
    discord_token: SecretStr = SecretStr("")
    discord_public_key: str = ""
    discord_api_url: str = "https://discord.com/api/v10"
    x_bearer_token: SecretStr = SecretStr("")
    x_api_url: str = "https://api.x.com"
    state_dir: Path = Field(default_factory=_default_state_dir)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._\-]*$")
    market_source: str = Field(
        default="sample",
        description="market-feed source: binance, coinbase, file:PATH[?speed=N&loop=1], or "
        "sample (the bundled synthetic ticks, looped in real time)",
    )
    market_symbols: str = Field(default="", description="comma-separated; empty = defaults")
    log_level: str = "INFO"
    log_json: bool = False

    def topic(self, name: str) -> str:
        """A catalogue name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """A consumer group name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process (CLI and service entry points)."""
    return Settings()
