"""The offline planner reads every command the README and its own help text document, in both
alert word orders; ``alerts`` shows the user's rules and the alerts that fired lately (the same
as the bots' ``/alerts``), through the agent's optional :class:`AlertsPort`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from agent import (
    HELP,
    Agent,
    AgentFactory,
    AlertView,
    Command,
    MemoryCheckpointStore,
    MemoryToolResultCache,
    Ports,
    Reply,
    plan,
)
from schemas import ChatMessageReceivedV1
from tests.fakes import FixedPrices, RecordingRules, RecordingSink

T0 = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)

README_COMMANDS = [
    # README.md, "without a model": the planner's commands, as documented.
    ("price BTC", "get_price", {"symbol": "BTCUSDT"}),
    (
        "alert BTC above 70000",
        "create_alert",
        {"symbol": "BTCUSDT", "condition": "above", "threshold": "70000"},
    ),
    (
        "alert BTC below 70000",
        "create_alert",
        {"symbol": "BTCUSDT", "condition": "below", "threshold": "70000"},
    ),
    (
        "alert BTC crosses_above 70000",
        "create_alert",
        {"symbol": "BTCUSDT", "condition": "crosses_above", "threshold": "70000"},
    ),
    (
        "alert BTC crosses_below 70000",
        "create_alert",
        {"symbol": "BTCUSDT", "condition": "crosses_below", "threshold": "70000"},
    ),
    (
        "pct BTC 5 3600",
        "create_alert",
        {"symbol": "BTCUSDT", "condition": "pct_change", "threshold": "5", "window_s": 3600},
    ),
    ("alerts", "list_alerts", {}),
    ("unalert rule-1", "delete_alert", {"rule_id": "rule-1"}),
]


@pytest.mark.parametrize(("text", "tool", "arguments"), README_COMMANDS)
def test_every_command_the_readme_documents_is_understood(
    text: str, tool: str, arguments: dict[str, object]
) -> None:
    assert plan(text) == Command(tool, arguments)


def test_every_example_in_the_help_text_is_understood() -> None:
    examples = re.findall(r"^- ([^:(]+?)(?: \(or ([^)]+)\))?:", HELP, flags=re.MULTILINE)
    assert len(examples) == 7  # price, alert, alert pct, alerts, unalert, search, posts
    for first, second in examples:
        for text in filter(None, (first, second)):
            command = text.replace("ID", "rule-1")
            assert isinstance(plan(command), Command), command


@pytest.mark.parametrize(
    ("condition_first", "symbol_first"),
    [
        ("pct BTC 5 3600", "alert BTC pct 5 3600"),
        ("pct eth -2.5 15m", "alert eth pct -2.5 15m"),
        ("/pct_change BTC 5 1h", "alert BTC pct_change 5 1h"),
        ("above BTC 70,000", "alert BTC above 70000"),
        ("crosses-below sol 120", "alert SOL crosses_below 120"),
    ],
)
def test_alerts_read_the_same_condition_first(condition_first: str, symbol_first: str) -> None:
    first = plan(condition_first)
    assert isinstance(first, Command)
    assert first == plan(symbol_first)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pct", "Usage: alert SYMBOL"),
        ("pct BTC 5", "Usage: alert SYMBOL"),
        ("above BTC", "Usage: alert SYMBOL"),
        ("pct BTC 0 60", "Sorry, I could not read that: threshold of pct_change must not be 0"),
    ],
)
def test_incomplete_condition_first_alerts_get_the_usage(text: str, expected: str) -> None:
    reply = plan(text)
    assert isinstance(reply, Reply)
    assert reply.text.startswith(expected)
    assert "pct SYMBOL PERCENT WINDOW" in plan("alert BTC").text  # type: ignore[union-attr]


class FiredAlerts:
    """An :class:`AlertsPort` over a list of fired alerts, newest first per user."""

    def __init__(self, alerts: Sequence[tuple[str, AlertView]] = ()) -> None:
        self.alerts = list(alerts)
        self.limits: list[int] = []

    async def recent_alerts(self, user_id: str, limit: int) -> Sequence[AlertView]:
        self.limits.append(limit)
        mine = [a for owner, a in self.alerts if owner == user_id]
        return sorted(mine, key=lambda a: a.triggered_at, reverse=True)[:limit]


def fired(rule_id: str, price: str, minutes: int) -> AlertView:
    return AlertView(
        match_id=f"m-{rule_id}-{minutes}",
        rule_id=rule_id,
        symbol="BTCUSDT",
        price=price,
        triggered_at=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def agent() -> Agent:
    return AgentFactory().build(
        "market-assistant", checkpoints=MemoryCheckpointStore(), cache=MemoryToolResultCache()
    )


async def ask(agent: Agent, text: str, ports: Ports, user_id: str = "u1") -> RecordingSink:
    sink = RecordingSink()
    request = ChatMessageReceivedV1(session_id="s1", user_id=user_id, channel="cli", text=text)
    await agent.answer(request, request_id=uuid.uuid4().hex, sink=sink, ports=ports)
    return sink


async def test_alerts_shows_rules_and_the_alerts_that_fired_lately(agent: Agent) -> None:
    history = FiredAlerts(
        [
            ("u1", fired("r-old", "69000", 0)),
            ("u1", fired("r-new", "70100.5", 30)),
            ("u2", fired("r-other", "1", 10)),
        ]
    )
    ports = Ports(prices=FixedPrices(), rules=RecordingRules(), alerts=history)
    await ask(agent, "pct BTC 5 1h", ports)
    sink = await ask(agent, "alerts", ports)

    (call,) = sink.tool_calls()
    assert call.name == "list_alerts"
    assert [a["rule_id"] for a in call.result["fired"]] == ["r-new", "r-old"]
    assert call.result["fired"][0] == {
        "match_id": "m-r-new-30",
        "rule_id": "r-new",
        "symbol": "BTCUSDT",
        "price": "70100.5",
        "triggered_at": "2026-12-04T10:00:00+00:00",
    }
    lines = sink.text().splitlines()
    assert lines[0] == "Your alerts:"
    assert lines[1].endswith(": BTCUSDT moves 5% within 3600s")
    assert lines[2:] == [
        "Fired lately:",
        "- 2026-12-04 10:00 UTC: BTCUSDT at 70100.5 (alert r-new)",
        "- 2026-12-04 09:30 UTC: BTCUSDT at 69000 (alert r-old)",
    ]
    assert history.limits == [5]


async def test_alerts_fired_for_rules_since_deleted_are_still_shown(agent: Agent) -> None:
    ports = Ports(rules=RecordingRules(), alerts=FiredAlerts([("u1", fired("gone", "1.5", 5))]))
    text = (await ask(agent, "/alerts", ports)).text()
    assert text == (
        "You have no alert rules.\nFired lately:\n"
        "- 2026-12-04 09:35 UTC: BTCUSDT at 1.5 (alert gone)"
    )


async def test_alerts_with_neither_rules_nor_fired_alerts(agent: Agent) -> None:
    ports = Ports(rules=RecordingRules(), alerts=FiredAlerts([("u2", fired("x", "1", 0))]))
    assert (await ask(agent, "alerts", ports)).text() == "You have no alerts."


async def test_without_an_alerts_port_alerts_lists_rules_only(agent: Agent) -> None:
    ports = Ports(rules=RecordingRules())
    await ask(agent, "alert BTC above 70000", ports)
    sink = await ask(agent, "alerts", ports)
    (call,) = sink.tool_calls()
    assert "fired" not in call.result
    assert "Fired lately" not in sink.text()
    assert sink.text().startswith("Your alerts:\n")
