"""The chain-rules consumer: our AlertRegistry's logs on ``ixo.chain.logs`` become alert rules
through the service layer (the chain as one more client). The pure core is here; the FastStream
wiring (group ``ixo.chain-rules``) in :mod:`consumers.chain_rules.app`."""

from consumers.chain_rules._core import (
    CANCELLED,
    KINDS,
    REGISTERED,
    RuleCommand,
    RuleDefinition,
    RuleLedger,
    chain_rule_id,
    plan,
    wallet_user,
)
from consumers.chain_rules._redis import RedisRuleLedger

__all__ = [
    "CANCELLED",
    "KINDS",
    "REGISTERED",
    "RedisRuleLedger",
    "RuleCommand",
    "RuleDefinition",
    "RuleLedger",
    "chain_rule_id",
    "plan",
    "wallet_user",
]
