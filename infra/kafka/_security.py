"""The Kafka section of the settings as client security: one mapping for FastStream's broker and
every raw aiokafka client (admin, offsets and group consumers, SSE streams).

FastStream's own ``parse_security`` turns the broker's security object into aiokafka's keyword
arguments, so the raw clients get exactly what the broker's producer and consumers get.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from infra.settings import KafkaSettings, Settings


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """A client TLS context that verifies the brokers (the CA file, else the system's CAs)."""
    password = kafka.ssl_key_password.get_secret_value() or None
    context: ssl.SSLContext = create_ssl_context(
        cafile=kafka.ssl_ca_file,
        certfile=kafka.ssl_cert_file,
        keyfile=kafka.ssl_key_file,
        password=password,
    )
    return context


def broker_security(kafka: KafkaSettings) -> BaseSecurity | None:
    """FastStream's security object for these settings; None for PLAINTEXT."""
    if kafka.security_protocol == "PLAINTEXT":
        return None
    context = ssl_context(kafka) if kafka.uses_ssl else None
    if not kafka.uses_sasl:
        return BaseSecurity(ssl_context=context)
    user = kafka.sasl_username
    password = kafka.sasl_password.get_secret_value()
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return sasl[kafka.sasl_mechanism](user, password, ssl_context=context, use_ssl=kafka.uses_ssl)


def client_security(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka's security keyword arguments for these settings (none for PLAINTEXT)."""
    return parse_security(broker_security(kafka))


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments every raw aiokafka client gets: the bootstrap address and security."""
    return {"bootstrap_servers": settings.kafka_servers, **client_security(settings.kafka)}
