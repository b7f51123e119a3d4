"""The agent without a language model: the packaged market assistant answers commands through
the deterministic planner, reports tool calls and the completion to its sink, and stays
idempotent per request id (a redelivery or a resume never creates a second rule). The agent's
ports are the simple implementations in :mod:`tests.fakes`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agent import (
    AGENT_NAMESPACE,
    HELP,
    Agent,
    AgentFactory,
    LLMEndpoint,
    MemoryCheckpointStore,
    MemoryToolResultCache,
    Ports,
)
from schemas import TransientError
from tests.fakes import PRICE_TIME, FixedPrices, RecordingRules, RecordingSink, chat


@pytest.fixture
def agent() -> Agent:
    return AgentFactory().build(
        "market-assistant", checkpoints=MemoryCheckpointStore(), cache=MemoryToolResultCache()
    )


@pytest.fixture
def rules() -> RecordingRules:
    return RecordingRules()


@pytest.fixture
def ports(rules: RecordingRules) -> Ports:
    return Ports(prices=FixedPrices(), rules=rules)


async def ask(
    agent: Agent, text: str, ports: Ports, request_id: str | None = None
) -> RecordingSink:
    sink = RecordingSink()
    await agent.answer(
        chat(text), request_id=request_id or uuid.uuid4().hex, sink=sink, ports=ports
    )
    return sink


def test_without_a_configured_model_the_agent_is_offline() -> None:
    factory = AgentFactory()
    for endpoint in (
        None,
        LLMEndpoint(),
        LLMEndpoint(base_url="http://127.0.0.1:1/v1"),  # no model name
        LLMEndpoint(model="gpt-x"),  # nowhere to send it
    ):
        built = factory.build(
            "market-assistant",
            llm=endpoint,
            checkpoints=MemoryCheckpointStore(),
            cache=MemoryToolResultCache(),
        )
        assert not built.online
        assert built.orchestrator.entry == "plan"


async def test_price_command(agent: Agent, ports: Ports) -> None:
    sink = await ask(agent, "price btc", ports)
    assert sink.kinds() == ["tool_called", "delta", "completed"]
    (call,) = sink.tool_calls()
    assert call.name == "get_price"
    assert call.result == {"symbol": "BTCUSDT", "price": "64123.5", "time": PRICE_TIME.isoformat()}
    text, calls = sink.completions()[0]
    assert text == sink.text() == f"BTCUSDT: 64123.5 (at {PRICE_TIME.isoformat()})."
    assert calls == (call,)


async def test_unknown_symbol_is_said_plainly(agent: Agent, ports: Ports) -> None:
    sink = await ask(agent, "price DOGE", ports)
    assert sink.text().startswith("Sorry, I could not get the price: no price for DOGEUSDT")


@pytest.mark.parametrize(
    ("command", "condition"),
    [
        ("alert BTC above 70000", {"kind": "above", "threshold": "70000", "window_s": None}),
        ("alert btc below 60,000", {"kind": "below", "threshold": "60000", "window_s": None}),
        (
            "alert BTC crosses_above 70000.5",
            {"kind": "crosses_above", "threshold": "70000.5", "window_s": None},
        ),
        (
            "alert BTC crosses_below 1e4",
            {"kind": "crosses_below", "threshold": "10000", "window_s": None},
        ),
        ("alert BTC pct 5 3600", {"kind": "pct_change", "threshold": "5", "window_s": 3600}),
        ("alert eth pct -2.5 15m", {"kind": "pct_change", "threshold": "-2.5", "window_s": 900}),
    ],
)
async def test_alert_commands_create_one_rule(
    agent: Agent, ports: Ports, rules: RecordingRules, command: str, condition: dict[str, Any]
) -> None:
    sink = await ask(agent, command, ports, request_id="req-1")
    ((rule, key),) = rules.creates
    assert key == "req-1:0"
    assert rule.rule_id == str(uuid.uuid5(AGENT_NAMESPACE, "req-1:0"))
    assert rule.user_id == "u1"
    assert rule.symbol == ("ETHUSDT" if "eth" in command else "BTCUSDT")
    assert rule.condition.model_dump(mode="json") == condition
    assert sink.text().startswith("Alert created: ")
    assert rule.rule_id in sink.text()


async def test_alerts_and_unalert(agent: Agent, ports: Ports, rules: RecordingRules) -> None:
    assert (await ask(agent, "alerts", ports)).text() == "You have no alerts."
    await ask(agent, "alert BTC above 70000", ports)
    await ask(agent, "/alert ETH pct 5 1h", ports)
    listing = (await ask(agent, "alerts", ports)).text()
    assert listing.startswith("Your alerts:\n")
    assert "BTCUSDT above 70000" in listing
    assert "ETHUSDT moves 5% within 3600s" in listing
    rule_id = next(iter(rules.rules))
    assert (await ask(agent, f"unalert {rule_id}", ports)).text() == f"Alert {rule_id} deleted."
    assert rule_id not in rules.rules
    again = (await ask(agent, f"unalert {rule_id}", ports)).text()
    assert again == f"Sorry, I could not delete the alert: you have no alert {rule_id}."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", HELP),
        ("what is the price of bitcoin?", HELP),
        ("price", "Usage: price SYMBOL"),
        ("alert BTC over 70000", "Usage: alert SYMBOL"),
        ("alert BTC above", "Usage: alert SYMBOL"),
        ("alert BTC pct 5", "Usage: alert SYMBOL"),
        ("alert BTC above lots", "Sorry, I could not read that: threshold: "),
        (
            "alert BTC above -5",
            "Sorry, I could not read that: threshold of above must be a positive",
        ),
        (
            "alert BTC pct 0 60",
            "Sorry, I could not read that: threshold of pct_change must not be 0",
        ),
        ("price $$", "Sorry, I could not read that: symbol: '$$' is not a symbol"),
        ("unalert", "Usage: unalert ID"),
        ("unalert a/b", "Sorry, I could not read that: rule_id: "),
    ],
)
async def test_anything_else_gets_a_plain_answer(
    agent: Agent, ports: Ports, rules: RecordingRules, text: str, expected: str
) -> None:
    sink = await ask(agent, text, ports)
    assert sink.kinds() == ["delta", "completed"]
    assert sink.text().startswith(expected)
    assert not rules.creates


async def test_redelivered_request_is_not_answered_twice(
    agent: Agent, ports: Ports, rules: RecordingRules
) -> None:
    first = RecordingSink()
    answer = await agent.answer(
        chat("alert BTC above 70000"), request_id="r1", sink=first, ports=ports
    )
    again = RecordingSink()
    replay = await agent.answer(
        chat("alert BTC above 70000"), request_id="r1", sink=again, ports=ports
    )
    assert len(rules.creates) == 1
    assert again.events == []
    assert replay.replayed
    assert replay.text == answer.text
    assert replay.tool_calls == answer.tool_calls


@pytest.mark.parametrize("fail_on", ["tool_called", "delta", "completed"])
async def test_crash_after_the_side_effect_resumes_without_a_second_rule(
    agent: Agent, ports: Ports, rules: RecordingRules, fail_on: str
) -> None:
    crashing = RecordingSink(fail_on=fail_on)
    with pytest.raises(Exception, match="sink crashed"):
        await agent.answer(
            chat("alert BTC above 70000"), request_id="r2", sink=crashing, ports=ports
        )
    sink = RecordingSink()
    answer = await agent.answer(
        chat("alert BTC above 70000"), request_id="r2", sink=sink, ports=ports
    )
    assert len(rules.creates) == 1
    assert len(rules.rules) == 1
    assert sink.kinds()[-1] == "completed"
    assert answer.text.startswith("Alert created")
    assert answer.resumed


async def test_transient_port_failure_propagates_and_the_retry_succeeds(agent: Agent) -> None:
    rules = RecordingRules(failures=1)
    ports = Ports(rules=rules)
    with pytest.raises(TransientError, match="broker down"):
        await ask(agent, "alert BTC above 70000", ports, request_id="r3")
    sink = await ask(agent, "alert BTC above 70000", ports, request_id="r3")
    assert len(rules.rules) == 1
    assert sink.text().startswith("Alert created")


async def test_missing_ports_are_reported_not_raised(agent: Agent) -> None:
    sink = await ask(agent, "price BTC", Ports())
    assert sink.text() == "Sorry, I could not get the price: prices are not available here."
