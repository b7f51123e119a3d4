"""The tool registry: JSON Schema from typed arguments, invalid arguments returned as the
call's error (never raised), idempotent side effects through the result cache, read caching,
and extension with a tool of one's own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agent import (
    TOOLS,
    AgentConfigError,
    MemoryToolResultCache,
    Ports,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolRequest,
)
from schemas import TransientError, normalise_symbol
from tests.fakes import FixedPrices, RecordingRules

BUILT_IN = ["get_price", "create_alert", "list_alerts", "delete_alert"]


def context(ports: Ports, index: int = 0, request_id: str = "req") -> ToolContext:
    return ToolContext(
        request_id=request_id,
        session_id="s1",
        user_id="u1",
        channel="cli",
        call_index=index,
        ports=ports,
    )


def request(name: str, arguments: str | dict[str, Any], index: int = 0) -> ToolRequest:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolRequest(index=index, call_id=f"c{index}", name=name, arguments=text)


async def run(
    name: str,
    arguments: str | dict[str, Any],
    ports: Ports,
    *,
    index: int = 0,
    cache: MemoryToolResultCache | None = None,
    registry: ToolRegistry = TOOLS,
) -> Any:
    return await registry.execute(
        request(name, arguments, index),
        context(ports, index),
        cache or MemoryToolResultCache(),
        idempotency_ttl_s=60,
    )


def test_built_in_tools_and_their_schemas() -> None:
    assert [n for n in TOOLS.names() if n in BUILT_IN] == BUILT_IN
    specs = {s["function"]["name"]: s for s in TOOLS.select(BUILT_IN).specs()}
    assert list(specs) == BUILT_IN
    create = specs["create_alert"]
    assert create["type"] == "function"
    assert create["function"]["description"]
    params = create["function"]["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["symbol", "condition", "threshold"]
    assert params["additionalProperties"] is False
    assert params["properties"]["condition"]["enum"] == [
        "above",
        "below",
        "crosses_above",
        "crosses_below",
        "pct_change",
    ]
    assert set(params["properties"]) == {
        "symbol",
        "condition",
        "threshold",
        "window_s",
        "cooldown_s",
        "repeat",
        "channels",
    }
    assert specs["list_alerts"]["function"]["parameters"]["properties"] == {}
    assert specs["delete_alert"]["function"]["parameters"]["required"] == ["rule_id"]


def test_select_refuses_unknown_tools() -> None:
    with pytest.raises(AgentConfigError, match="unknown tools \\['nope'\\]"):
        TOOLS.select(["get_price", "nope"])


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ('{"symbol": "BTC"', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({"symbol": "BTC", "condition": "over", "threshold": 1}, "condition: Input should be"),
        ({"symbol": "BTC", "condition": "above"}, "threshold: Field required"),
        ({"symbol": "BTC", "condition": "above", "threshold": "x"}, "threshold: "),
        ({"symbol": "BTC", "condition": "pct_change", "threshold": 5}, "window_s is required"),
        (
            {"symbol": "BTC", "condition": "above", "threshold": 5, "window_s": 60},
            "pct_change only",
        ),
        ({"symbol": "B T C!", "condition": "above", "threshold": 5}, "is not a symbol"),
        ({"symbol": "BTC", "condition": "above", "threshold": 5, "colour": "red"}, "colour: Extra"),
    ],
)
async def test_invalid_arguments_become_the_error_result(arguments: Any, error: str) -> None:
    rules = RecordingRules()
    call = await run("create_alert", arguments, Ports(rules=rules))
    assert call.result is None
    assert call.error is not None
    assert call.error.startswith("invalid arguments for create_alert: ")
    assert error in call.error
    assert not rules.creates


async def test_unknown_tool_is_an_error_result() -> None:
    call = await run("launch_rocket", {"to": "moon"}, Ports())
    assert call.error is not None
    assert call.error.startswith("unknown tool 'launch_rocket'")
    assert call.arguments == {"to": "moon"}


async def test_empty_arguments_mean_none() -> None:
    call = await run("list_alerts", "", Ports(rules=RecordingRules()))
    assert call.error is None
    assert call.result == {"count": 0, "alerts": []}


async def test_side_effects_are_cached_by_idempotency_key() -> None:
    rules = RecordingRules()
    cache = MemoryToolResultCache()
    args = {"symbol": "btc", "condition": "above", "threshold": 70000}
    first = await run("create_alert", args, Ports(rules=rules), cache=cache)
    again = await run("create_alert", args, Ports(rules=rules), cache=cache)
    assert first.result == again.result
    assert first.result["rule_id"] == again.result["rule_id"]
    assert len(rules.creates) == 1
    other = await run("create_alert", args, Ports(rules=rules), cache=cache, index=1)
    assert other.result["rule_id"] != first.result["rule_id"]
    assert len(rules.creates) == 2


async def test_side_effect_errors_are_cached_too() -> None:
    rules = RecordingRules()
    cache = MemoryToolResultCache()
    first = await run("delete_alert", {"rule_id": "r-1"}, Ports(rules=rules), cache=cache)
    again = await run("delete_alert", {"rule_id": "r-1"}, Ports(rules=rules), cache=cache)
    assert first.error == again.error == "you have no alert r-1"
    assert len(rules.deletes) == 1


async def test_read_results_are_cached_by_arguments_not_errors() -> None:
    prices = FixedPrices()
    cache = MemoryToolResultCache()
    a = await run("get_price", {"symbol": "BTC"}, Ports(prices=prices), cache=cache)
    b = await run("get_price", {"symbol": "btcusdt"}, Ports(prices=prices), cache=cache, index=1)
    assert a.result == b.result
    assert prices.lookups == ["BTCUSDT"]
    await run("get_price", {"symbol": "DOGE"}, Ports(prices=prices), cache=cache)
    await run("get_price", {"symbol": "DOGE"}, Ports(prices=prices), cache=cache)
    assert prices.lookups == ["BTCUSDT", "DOGEUSDT", "DOGEUSDT"]


async def test_transient_errors_propagate() -> None:
    with pytest.raises(TransientError):
        await run(
            "create_alert",
            {"symbol": "BTC", "condition": "above", "threshold": 1},
            Ports(rules=RecordingRules(failures=1)),
        )


class SearchArgs(BaseModel):
    query: str = Field(description="What to look for")
    limit: int = Field(default=2, ge=1, le=10)


class Library:
    """A knowledge port of the test's own."""

    def __init__(self) -> None:
        self.docs = ["BTC halving in 2028", "ETH staking yields", "BTC ETF flows"]

    async def search(self, query: str, limit: int) -> list[str]:
        return [d for d in self.docs if query.lower() in d.lower()][:limit]


def knowledge_registry() -> ToolRegistry:
    registry = ToolRegistry(TOOLS.select(["get_price"]))

    @registry.tool(description="Search the knowledge base.", cache_ttl_s=60)
    async def search_knowledge(args: SearchArgs, ctx: ToolContext) -> dict[str, Any]:
        library: Library = ctx.ports.extra("knowledge")
        return {"hits": await library.search(args.query, args.limit)}

    return registry


async def test_a_new_tool_plugs_in_with_its_own_port() -> None:
    registry = knowledge_registry()
    assert registry.names() == ["get_price", "search_knowledge"]
    spec = registry.specs()[1]["function"]
    assert spec["parameters"]["required"] == ["query"]
    ports = Ports(extras={"knowledge": Library()})
    call = await run("search_knowledge", {"query": "btc"}, ports, registry=registry)
    assert call.result == {"hits": ["BTC halving in 2028", "BTC ETF flows"]}
    missing = await run("search_knowledge", {"query": "btc"}, Ports(), registry=registry)
    assert missing.error == "knowledge is not available here"


def test_registration_mistakes_are_refused() -> None:
    registry = ToolRegistry()

    async def no_doc(args: SearchArgs, ctx: ToolContext) -> None:
        del args, ctx

    with pytest.raises(AgentConfigError, match="description"):
        registry.tool()(no_doc)

    async def untyped(args: dict[str, Any], ctx: ToolContext) -> None:
        """Untyped arguments."""

    with pytest.raises(AgentConfigError, match="pydantic model"):
        registry.tool()(untyped)  # type: ignore[type-var]

    registry.tool(description="one")(no_doc)
    with pytest.raises(AgentConfigError, match="already registered"):
        registry.tool(description="two")(no_doc)


async def test_tool_errors_become_error_results() -> None:
    registry = ToolRegistry()

    @registry.tool(description="Always refuses.")
    async def refuse(args: SearchArgs, ctx: ToolContext) -> None:
        msg = f"no results for {args.query}"
        raise ToolError(msg)

    call = await run("refuse", {"query": "x"}, Ports(), registry=registry)
    assert call.error == "no results for x"


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("BTC", "BTCUSDT"),
        ("btc", "BTCUSDT"),
        (" eth ", "ETHUSDT"),
        ("BTCUSDT", "BTCUSDT"),
        ("btc/usdt", "BTCUSDT"),
        ("ETH-BTC", "ETHBTC"),
        ("sol_usdc", "SOLUSDC"),
        ("BTCUSD", "BTCUSD"),
        ("1INCH", "1INCHUSDT"),
    ],
)
def test_symbols_are_normalised(text: str, symbol: str) -> None:
    assert normalise_symbol(text) == symbol


@pytest.mark.parametrize("text", ["", "  ", "BTC!", "₿", "A" * 30])
def test_bad_symbols_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a symbol"):
        normalise_symbol(text)
