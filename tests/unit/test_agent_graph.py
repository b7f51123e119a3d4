"""Graphs of nodes: the template method, routing, a checkpoint after every step, resuming a
crashed run at the step that failed, guards (unknown nodes, loops, stale runs), configuration
loading and the package's public API."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

import agent
from agent import (
    END,
    AgentConfigError,
    AgentFactory,
    AgentOrchestrator,
    AgentState,
    BaseNode,
    LLMEndpoint,
    MemoryCheckpointStore,
    MemoryToolResultCache,
    NodeDeps,
    NodeOptions,
    NodeResult,
    Ports,
    RunContext,
    StaleCheckpoint,
    StepLimitExceeded,
    load_config,
    packaged_configs,
    register_node,
)
from agent._node import parse_options
from tests.fakes import RecordingSink, chat


class RecordingCheckpoints(MemoryCheckpointStore):
    """The memory store, keeping every state it was asked to save."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[AgentState] = []

    async def save(self, state: AgentState) -> bool:
        self.saved.append(state)
        return await super().save(state)


class CountOptions(NodeOptions):
    then: str
    fail_once: bool = False


@register_node("test_count")
class CountNode(BaseNode):
    """Appends its name to the answer; routes to ``then``; may fail the first time."""

    calls: ClassVar[list[str]] = []
    failed: ClassVar[set[str]] = set()

    def __init__(self, name: str, deps: NodeDeps, options: CountOptions) -> None:
        super().__init__(name, deps)
        self.options = options

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], deps: NodeDeps) -> BaseNode:
        return cls(name, deps, parse_options(CountOptions, name, options))

    def successors(self) -> tuple[str, ...]:
        return (self.options.then,)

    async def prepare(self, state: AgentState, ctx: RunContext) -> AgentState:
        self.calls.append(f"prepare:{self.name}")
        return state

    async def run(self, state: AgentState, ctx: RunContext) -> NodeResult:
        self.calls.append(f"run:{self.name}")
        if self.options.fail_once and self.name not in self.failed:
            self.failed.add(self.name)
            msg = f"{self.name} crashed"
            raise RuntimeError(msg)
        return NodeResult(await self.emit(state, ctx, self.name), self.options.then)

    async def finalize(self, result: NodeResult, ctx: RunContext) -> NodeResult:
        self.calls.append(f"finalize:{self.name}")
        return await super().finalize(result, ctx)


@pytest.fixture(autouse=True)
def _reset() -> None:
    CountNode.calls.clear()
    CountNode.failed.clear()


def config(nodes: dict[str, Any], entry: str = "a", max_steps: int = 32) -> dict[str, Any]:
    return {
        "name": "counter",
        "offline_graph": {"entry": entry, "nodes": nodes, "max_steps": max_steps},
        "stores": {"checkpoints": "memory", "tool_cache": "memory"},
    }


def chain(fail_at: str | None = None) -> dict[str, Any]:
    return {
        "a": {"type": "test_count", "options": {"then": "b"}},
        "b": {"type": "test_count", "options": {"then": "c", "fail_once": fail_at == "b"}},
        "c": {"type": "test_count", "options": {"then": "end"}},
        "end": {"type": "respond"},
    }


async def test_nodes_run_as_a_template_and_every_step_is_checkpointed() -> None:
    checkpoints = RecordingCheckpoints()
    built = AgentFactory().build(config(chain()), checkpoints=checkpoints)
    sink = RecordingSink()
    answer = await built.answer(chat("go"), request_id="r1", sink=sink, ports=Ports())
    assert answer.text == "abc"
    assert CountNode.calls == [
        f"{phase}:{name}" for name in "abc" for phase in ("prepare", "run", "finalize")
    ]
    assert [s.node for s in checkpoints.saved] == ["b", "c", "end", END]
    assert [s.step for s in checkpoints.saved] == [1, 2, 3, 4]
    assert checkpoints.saved[-1].trace == ("a", "b", "c", "end")
    assert sink.deltas() == [(0, "a"), (1, "b"), (2, "c")]
    assert sink.completions() == [("abc", ())]


async def test_a_crashed_run_resumes_at_the_failed_step() -> None:
    checkpoints = RecordingCheckpoints()
    built = AgentFactory().build(config(chain(fail_at="b")), checkpoints=checkpoints)
    with pytest.raises(RuntimeError, match="b crashed"):
        await built.answer(chat("go"), request_id="r1", sink=RecordingSink(), ports=Ports())
    CountNode.calls.clear()
    sink = RecordingSink()
    answer = await built.answer(chat("go"), request_id="r1", sink=sink, ports=Ports())
    assert answer.resumed
    assert answer.text == "abc"
    assert [c for c in CountNode.calls if c.startswith("run:")] == ["run:b", "run:c"]
    assert sink.deltas() == [(1, "b"), (2, "c")]  # seq continues from the checkpoint


async def test_a_finished_request_is_replayed_silently() -> None:
    built = AgentFactory().build(config(chain()))
    await built.answer(chat("go"), request_id="r1", sink=RecordingSink(), ports=Ports())
    sink = RecordingSink()
    answer = await built.answer(chat("go"), request_id="r1", sink=sink, ports=Ports())
    assert answer.replayed
    assert answer.text == "abc"
    assert sink.events == []


async def test_a_stale_run_stops() -> None:
    checkpoints = MemoryCheckpointStore()
    built = AgentFactory().build(config(chain()), checkpoints=checkpoints)
    ahead = built.initial_state(chat("go"), "r1").model_copy(
        update={"graph": "elsewhere", "step": 10, "node": "x"}
    )
    assert await checkpoints.save(ahead)
    # Another graph's checkpoint: the run starts over from its step counter and goes on.
    answer = await built.answer(chat("go"), request_id="r1", sink=RecordingSink(), ports=Ports())
    assert answer.text == "abc"
    saved = await checkpoints.load("r1")
    assert saved is not None
    assert saved.step == 14

    class Racing(MemoryCheckpointStore):
        async def save(self, state: AgentState) -> bool:
            return False

    racing = AgentFactory().build(config(chain()), checkpoints=Racing())
    with pytest.raises(StaleCheckpoint):
        await racing.answer(chat("go"), request_id="r2", sink=RecordingSink(), ports=Ports())


async def test_a_routing_loop_hits_the_step_limit() -> None:
    loop = {
        "a": {"type": "test_count", "options": {"then": "b"}},
        "b": {"type": "test_count", "options": {"then": "a"}},
    }
    built = AgentFactory().build(config(loop, max_steps=5))
    with pytest.raises(StepLimitExceeded, match="more than 5 steps"):
        await built.answer(chat("go"), request_id="r1", sink=RecordingSink(), ports=Ports())


@pytest.mark.parametrize(
    ("nodes", "entry", "error"),
    [
        (chain(), "zz", "entry node 'zz'"),
        (
            {"a": {"type": "test_count", "options": {"then": "nowhere"}}},
            "a",
            "unknown node 'nowhere'",
        ),
        ({"a": {"type": "no_such_kind"}}, "a", "unknown node type 'no_such_kind'"),
        ({"a": {"type": "test_count", "options": {"then": "a", "x": 1}}}, "a", "invalid options"),
        ({"a": {"type": "respond", "options": {"x": 1}}}, "a", "takes no options"),
    ],
)
def test_bad_graphs_are_refused_at_build(nodes: dict[str, Any], entry: str, error: str) -> None:
    with pytest.raises(AgentConfigError, match=error):
        AgentFactory().build(config(nodes, entry=entry))


def test_the_packaged_market_assistant() -> None:
    assert "market-assistant" in packaged_configs()
    cfg = load_config("market-assistant")
    assert cfg.name == "market-assistant"
    assert cfg.tools == [
        "get_price",
        "create_alert",
        "list_alerts",
        "delete_alert",
        "search_knowledge",
        "recent_posts",
        "register_onchain_alert",
        "chain_events",
    ]
    assert cfg.graph is not None
    assert cfg.graph.entry == "llm"
    assert cfg.offline_graph.entry == "plan"
    assert cfg.stores.checkpoints == "redis"
    assert "tools" in cfg.system_prompt


def test_configuration_from_yaml_files(tmp_path: Path) -> None:
    path = tmp_path / "echo.yaml"
    path.write_text(
        "name: echo\nsystem_prompt: hi\ntools: [get_price]\n"
        "offline_graph:\n  entry: plan\n  nodes:\n"
        "    plan: {type: command_planner, options: {tools_node: tools}}\n"
        "    tools: {type: tools, options: {then: compose}}\n"
        "    compose: {type: compose}\n    respond: {type: respond}\n"
        "stores: {checkpoints: memory, tool_cache: memory}\n"
    )
    built = AgentFactory().build(path)
    assert built.name == "echo"
    assert built.tools.names() == ["get_price"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(AgentConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("name: x\noffline_graph: {entry: a, nodes: {a: {type: respond}}}\nmodel: gpt\n")
    with pytest.raises(AgentConfigError, match="model"):
        load_config(bad)
    with pytest.raises(AgentConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(AgentConfigError, match="no packaged agent 'nope'"):
        load_config("nope")


def test_stores_need_their_clients() -> None:
    with pytest.raises(AgentConfigError, match="no Redis client"):
        AgentFactory().build("market-assistant")
    cfg = load_config("market-assistant").model_dump()
    cfg["stores"] = {"checkpoints": "mongodb", "tool_cache": "memory"}
    with pytest.raises(AgentConfigError, match="no MongoDB database"):
        AgentFactory().build(cfg)


def test_an_online_agent_needs_a_graph() -> None:
    endpoint = LLMEndpoint(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(AgentConfigError, match="has no `graph`"):
        AgentFactory().build(config(chain()), llm=endpoint)
    online = AgentFactory().build(
        "market-assistant",
        llm=endpoint,
        checkpoints=MemoryCheckpointStore(),
        cache=MemoryToolResultCache(),
    )
    assert online.online
    assert online.orchestrator.entry == "llm"


def test_endpoint_configuration() -> None:
    assert not LLMEndpoint().configured()
    assert not LLMEndpoint(base_url="http://x/v1").configured()
    assert LLMEndpoint(base_url="http://x/v1").configured(default_model="m")
    assert LLMEndpoint(api_key="k", model="m").configured()
    assert "k" not in repr(LLMEndpoint(api_key="k", model="m"))


def test_the_public_api() -> None:
    assert len(agent.__all__) == len(set(agent.__all__)), "a name is exported twice"
    for name in agent.__all__:
        assert getattr(agent, name) is not None
    public = {n for n in vars(agent) if not n.startswith("_")}
    assert public - set(agent.__all__) <= {"annotations", "configs"}


def test_the_orchestrator_checks_its_graph() -> None:
    with pytest.raises(AgentConfigError, match="entry node"):
        AgentOrchestrator(graph="g", nodes={}, entry="a", checkpoints=MemoryCheckpointStore())
