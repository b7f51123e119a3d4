"""Rule commands shared by the gateway, the CLI, the bots and the agent's tools."""

from producers.rules._service import Receipt, RuleDraft, RuleNotFound, RuleService, parse_draft

__all__ = ["Receipt", "RuleDraft", "RuleNotFound", "RuleService", "parse_draft"]
