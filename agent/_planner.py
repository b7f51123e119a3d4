"""The deterministic command planner: the agent without a language model.

:func:`plan` turns a chat line into a tool call or a direct reply (a pure function); the
``command_planner`` node routes a tool call through the same ``tools`` node as the model
(same validation, same idempotency keys), and the ``compose`` node words the result.

Commands: ``price BTC`` · ``alert BTC above 70000`` (``below``, ``crosses_above``,
``crosses_below``) · ``alert BTC pct 5 3600`` (a 5 % move within 3600 s; ``-5`` for a drop;
the window may be written ``1h``, ``15m``, ``90s``, ``1d``) · ``alerts`` (rules and the alerts
that fired lately) · ``unalert ID`` · ``search WORDS`` (the knowledge base: posts and the user's
documents, each passage with its citation) · ``posts BTC`` (the latest posts about a symbol, or
containing words). Every alert can also be written condition first: ``pct BTC 5 3600``,
``above BTC 70000``. A leading ``/`` (bot style) is accepted; anything else
gets the list of commands.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from agent._knowledge_tools import RecentPostsArgs, SearchKnowledgeArgs, snippet
from agent._market_tools import CreateAlertArgs, DeleteAlertArgs, GetPriceArgs, ListAlertsArgs
from agent._messages import ToolRequest
from agent._node import (
    BaseNode,
    NodeDeps,
    NodeOptions,
    NodeResult,
    RunContext,
    parse_options,
    register_node,
)
from agent._state import AgentState
from schemas import ToolCall

HELP: Final = (
    "No language model is configured, so I understand these commands only:\n"
    "- price BTC: the latest price (BTC means BTCUSDT)\n"
    "- alert BTC above 70000: an alert (also below, crosses_above, crosses_below)\n"
    "- alert BTC pct 5 3600 (or pct BTC 5 3600): an alert on a 5% move within 3600 s "
    "(-5 for a drop)\n"
    "- alerts: your alerts and the ones that fired lately\n"
    "- unalert ID: delete an alert\n"
    "- search WORDS: the knowledge base (posts and your documents), with sources\n"
    "- posts BTC: the latest posts about a symbol (or containing some words)"
)
USAGE: Final = {
    "price": "price SYMBOL, e.g. price BTC",
    "alert": "alert SYMBOL above|below|crosses_above|crosses_below PRICE, "
    "or alert SYMBOL pct PERCENT WINDOW (also pct SYMBOL PERCENT WINDOW), "
    "e.g. alert BTC above 70000 or alert BTC pct 5 1h",
    "alerts": "alerts",
    "unalert": "unalert ID (the id shown by alerts)",
    "search": "search WORDS, e.g. search bitcoin halving schedule",
    "posts": "posts SYMBOL or posts WORDS, e.g. posts BTC",
}
KINDS: Final = {
    "above": "above",
    "below": "below",
    "crosses_above": "crosses_above",
    "crosses-above": "crosses_above",
    "crossesabove": "crosses_above",
    "crosses_below": "crosses_below",
    "crosses-below": "crosses_below",
    "crossesbelow": "crosses_below",
    "pct": "pct_change",
    "pct_change": "pct_change",
    "%": "pct_change",
}
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Command:
    """A tool call the planner wants, with validated arguments (as JSON values)."""

    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """A direct answer (help, or why the command could not be read)."""

    text: str


def _number(text: str) -> str:
    return text.replace(",", "").replace("_", "").rstrip("%").lstrip("$")


def _duration(text: str) -> int | str:
    m = _DURATION.match(text.lower())
    return int(m.group(1)) * _UNITS[m.group(2)] if m else text


def _validated(tool: str, model: type[BaseModel], data: dict[str, Any]) -> Command | Reply:
    try:
        args = model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        reason = str(first["msg"]).removeprefix("Value error, ")
        where = f"{field}: " if field else ""
        return Reply(f"Sorry, I could not read that: {where}{reason}.\nUsage: {USAGE[_verb(tool)]}")
    return Command(tool, args.model_dump(mode="json", exclude_defaults=True))


def _verb(tool: str) -> str:
    return {
        "get_price": "price",
        "create_alert": "alert",
        "list_alerts": "alerts",
        "delete_alert": "unalert",
        "search_knowledge": "search",
        "recent_posts": "posts",
    }[tool]


def _price(args: list[str]) -> Command | Reply:
    if len(args) != 1:
        return Reply(f"Usage: {USAGE['price']}")
    return _validated("get_price", GetPriceArgs, {"symbol": args[0]})


def _alert(args: list[str]) -> Command | Reply:
    kind = KINDS.get(args[1].lower()) if len(args) >= 2 else None
    arity = 4 if kind == "pct_change" else 3
    if kind is None or len(args) != arity:
        return Reply(f"Usage: {USAGE['alert']}")
    data: dict[str, Any] = {"symbol": args[0], "condition": kind, "threshold": _number(args[2])}
    if kind == "pct_change":
        data["window_s"] = _duration(args[3])
    return _validated("create_alert", CreateAlertArgs, data)


def _condition_first(kind: str) -> Callable[[list[str]], Command | Reply]:
    """``pct BTC 5 3600`` (the kind, then the symbol) read as ``alert BTC pct 5 3600``."""

    def parse(args: list[str]) -> Command | Reply:
        return _alert([*args[:1], kind, *args[1:]]) if args else Reply(f"Usage: {USAGE['alert']}")

    return parse


def _alerts(args: list[str]) -> Command | Reply:
    del args
    return _validated("list_alerts", ListAlertsArgs, {})


def _unalert(args: list[str]) -> Command | Reply:
    if len(args) != 1:
        return Reply(f"Usage: {USAGE['unalert']}")
    return _validated("delete_alert", DeleteAlertArgs, {"rule_id": args[0]})


def _search(args: list[str]) -> Command | Reply:
    if not args:
        return Reply(f"Usage: {USAGE['search']}")
    return _validated("search_knowledge", SearchKnowledgeArgs, {"query": " ".join(args)})


def _posts(args: list[str]) -> Command | Reply:
    if not args:
        return Reply(f"Usage: {USAGE['posts']}")
    return _validated("recent_posts", RecentPostsArgs, {"symbol_or_query": " ".join(args)})


_VERBS: Final[dict[str, Callable[[list[str]], Command | Reply]]] = {
    "price": _price,
    "alert": _alert,
    "alerts": _alerts,
    "list": _alerts,
    "unalert": _unalert,
    "delete": _unalert,
    "search": _search,
    "posts": _posts,
    "news": _posts,
    **{word: _condition_first(word) for word in KINDS if word != "%"},
}


def plan(text: str) -> Command | Reply:
    """What to do with one chat line, without a language model."""
    words = text.split()
    if not words:
        return Reply(HELP)
    verb = words[0].lower().lstrip("/").split("@", 1)[0]
    parse = _VERBS.get(verb)
    return parse(words[1:]) if parse is not None else Reply(HELP)


def _condition(result: Mapping[str, Any]) -> str:
    kind = str(result.get("condition", ""))
    threshold = result.get("threshold", "")
    if kind == "pct_change":
        return f"moves {threshold}% within {result.get('window_s')}s"
    return f"{kind.replace('_', ' ')} {threshold}"


def _fired_line(alert: Mapping[str, Any]) -> str:
    at = datetime.fromisoformat(str(alert["triggered_at"])).astimezone(UTC)
    when = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"- {when}: {alert['symbol']} at {alert['price']} (alert {alert['rule_id']})"


def _list_text(result: Mapping[str, Any]) -> str:
    alerts = result.get("alerts") or []
    fired = result.get("fired") or []
    if not alerts and not fired:
        return "You have no alerts."
    lines = ["Your alerts:"] if alerts else ["You have no alert rules."]
    lines += [f"- {a['rule_id']}: {a['symbol']} {_condition(a)}" for a in alerts]
    if fired:
        lines.append("Fired lately:")
        lines += [_fired_line(a) for a in fired]
    return "\n".join(lines)


SNIPPET_IN_ANSWER: Final = 240
"""The most characters of one passage or post quoted in the planner's answer."""


def _search_text(result: Mapping[str, Any]) -> str:
    """The passages found, numbered, each with its source (a URL, or a document and chunk)."""
    hits = result.get("hits") or []
    if not hits:
        return f'I found nothing about "{result.get("query", "")}" in the knowledge base.'
    lines = [f'What I found about "{result.get("query", "")}":']
    lines += [
        f"[{h['n']}] {snippet(str(h['text']), SNIPPET_IN_ANSWER)} (source: {h['citation']})"
        for h in hits
    ]
    return "\n".join(lines)


def _posts_text(result: Mapping[str, Any]) -> str:
    """The latest posts, newest first, each with its URL."""
    posts = result.get("posts") or []
    about = result.get("symbol_or_query", "")
    if not posts:
        return f"No posts about {about} yet."
    lines = [f"Latest posts about {about}:"]
    for p in posts:
        when = datetime.fromisoformat(str(p["created_at"])).astimezone(UTC)
        text = snippet(str(p["text"]), SNIPPET_IN_ANSWER)
        lines.append(f"- {when:%Y-%m-%d %H:%M} UTC, {p['author']}: {text} ({p['citation']})")
    return "\n".join(lines)


_WHAT: Final = {
    "get_price": "get the price",
    "create_alert": "create the alert",
    "list_alerts": "list your alerts",
    "delete_alert": "delete the alert",
    "search_knowledge": "search the knowledge base",
    "recent_posts": "read the latest posts",
}
_WORDING: Final[dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "get_price": lambda r: f"{r['symbol']}: {r['price']} (at {r['time']}).",
    "create_alert": lambda r: f"Alert created: {r['symbol']} {_condition(r)} (id {r['rule_id']}).",
    "list_alerts": _list_text,
    "delete_alert": lambda r: f"Alert {r['deleted']} deleted.",
    "search_knowledge": _search_text,
    "recent_posts": _posts_text,
}


def describe(call: ToolCall) -> str:
    """One tool call's outcome in words."""
    if call.error is not None:
        what = _WHAT.get(call.name, f"run {call.name}")
        return f"Sorry, I could not {what}: {call.error}."
    wording = _WORDING.get(call.name)
    if wording is None or not isinstance(call.result, dict):
        return json.dumps(call.result)
    return wording(call.result)


class PlannerOptions(NodeOptions):
    tools_node: str = "tools"
    done: str = "respond"


@register_node("command_planner")
class CommandPlannerNode(BaseNode):
    """Reads the user's line with :func:`plan`: a command goes to ``tools_node``; help or a
    usage hint is the answer (routes to ``done``)."""

    def __init__(self, name: str, deps: NodeDeps, options: PlannerOptions) -> None:
        super().__init__(name, deps)
        self.options = options

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], deps: NodeDeps) -> BaseNode:
        return cls(name, deps, parse_options(PlannerOptions, name, options))

    def successors(self) -> tuple[str, ...]:
        return (self.options.tools_node, self.options.done)

    async def run(self, state: AgentState, ctx: RunContext) -> NodeResult:
        decision = plan(state.user_text)
        if isinstance(decision, Reply):
            return NodeResult(await self.emit(state, ctx, decision.text), self.options.done)
        if decision.tool not in self.deps.tools:
            text = f"The command for {decision.tool} is not available here.\n\n{HELP}"
            return NodeResult(await self.emit(state, ctx, text), self.options.done)
        index = state.next_call_index
        request = ToolRequest(
            index=index,
            call_id=f"cmd_{index}",
            name=decision.tool,
            arguments=json.dumps(decision.arguments),
        )
        new = state.model_copy(update={"pending": (request,), "next_call_index": index + 1})
        return NodeResult(new, self.options.tools_node)


class ComposeOptions(NodeOptions):
    done: str = "respond"


@register_node("compose")
class ComposeNode(BaseNode):
    """Words the outcome of the tool calls made so far (the planner's), then ``done``."""

    def __init__(self, name: str, deps: NodeDeps, options: ComposeOptions) -> None:
        super().__init__(name, deps)
        self.options = options

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], deps: NodeDeps) -> BaseNode:
        return cls(name, deps, parse_options(ComposeOptions, name, options))

    def successors(self) -> tuple[str, ...]:
        return (self.options.done,)

    async def run(self, state: AgentState, ctx: RunContext) -> NodeResult:
        text = "\n".join(describe(c) for c in state.tool_calls) or "Done."
        return NodeResult(await self.emit(state, ctx, text), self.options.done)
