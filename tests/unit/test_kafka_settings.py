"""The Kafka section of the settings (``IXO_KAFKA__*``) as the clients' security options."""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

import certifi
import pytest
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import ValidationError

from infra.kafka import broker_security, client_options, client_security
from infra.settings import KafkaSettings, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("IXO_KAFKA"):
            monkeypatch.delenv(name)


def test_the_flat_settings_still_work_and_plaintext_adds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IXO_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("IXO_KAFKA_LINGER_MS", "20")
    settings = Settings()
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.kafka_linger_ms == 20
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert broker_security(settings.kafka) is None
    assert client_security(settings.kafka) == {}
    # every broker, as a list: aiokafka reads one comma-separated string as one host
    assert client_options(settings) == {"bootstrap_servers": ["kafka-1:9092", "kafka-2:9092"]}


def test_sasl_scram_over_tls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IXO_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("IXO_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("IXO_KAFKA__SASL_USERNAME", "ixo")
    monkeypatch.setenv("IXO_KAFKA__SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("IXO_KAFKA__SSL_CA_FILE", certifi.where())
    monkeypatch.setenv("IXO_KAFKA__REPLICATION_FACTOR", "3")
    settings = Settings()
    assert settings.kafka.replication_factor == 3
    assert "s3cret" not in repr(settings)
    assert isinstance(broker_security(settings.kafka), SASLScram512)
    options = client_options(settings)
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ixo",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    ("mechanism", "security"),
    [("PLAIN", SASLPlaintext), ("SCRAM-SHA-256", SASLScram256)],
)
def test_sasl_without_tls(mechanism: str, security: type[BaseSecurity]) -> None:
    kafka = KafkaSettings.model_validate(
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "sasl_username": "u",
            "sasl_password": "p",
        }
    )
    assert type(broker_security(kafka)) is security
    assert client_security(kafka) == {
        "security_protocol": "SASL_PLAINTEXT",
        "ssl_context": None,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "u",
        "sasl_plain_password": "p",
    }


def test_tls_only_verifies_with_the_system_cas_by_default() -> None:
    options = client_security(KafkaSettings(security_protocol="SSL"))
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "IXO_KAFKA__SASL_USERNAME"),
        ({"sasl_username": "u", "sasl_password": "p"}, "use SASL_SSL"),
        ({"ssl_ca_file": "CA"}, "use SSL or SASL_SSL"),
        ({"security_protocol": "SSL", "ssl_key_file": "CA"}, "needs ssl_cert_file"),
        ({"security_protocol": "SSL", "ssl_ca_file": "missing.pem"}, "does not point to a file"),
        ({"security_protocol": "TLS"}, "security_protocol"),
    ],
)
def test_inconsistent_kafka_settings_are_refused_at_start(
    fields: dict[str, str], message: str
) -> None:
    values = {k: (certifi.where() if v == "CA" else v) for k, v in fields.items()}
    with pytest.raises(ValidationError, match=message):
        KafkaSettings.model_validate(values)


def test_make_broker_and_raw_clients_get_the_same_security(tmp_path: Path) -> None:
    from infra.kafka import make_broker

    kafka = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p")
    settings = Settings(kafka=kafka, state_dir=tmp_path)
    broker = make_broker(settings)
    builder = broker.config.broker_config.builder  # makes the subscribers' consumers
    assert isinstance(builder, functools.partial)
    consumer_options = builder.keywords
    expected = client_security(kafka)
    assert expected["sasl_plain_username"] == "u"
    assert {k: consumer_options[k] for k in expected} == expected


def test_min_insync_replicas_above_the_replication_factor_is_refused() -> None:
    with pytest.raises(ValidationError, match="no write could succeed"):
        KafkaSettings(replication_factor=1, min_insync_replicas=2)
    assert KafkaSettings(replication_factor=3, min_insync_replicas=2).min_insync_replicas == 2
