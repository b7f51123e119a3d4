"""``BaseNode`` (a template method: prepare -> run -> finalize) and the node-type registry.

A node is a small class that takes the run's state and returns a new state plus the name of
the node to run next (or :data:`END`). Nodes are built from configuration: a graph names each
node and gives its ``type`` (a registered kind) and options. Register a new kind with
``@register_node("kind")``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from agent._errors import AgentConfigError
from agent._llm import LLMOptions
from agent._state import AgentState
from agent._tools import ToolRegistry
from agent._types import ChatModel, Ports, ResponseSink, ToolResultCache

NodeT = TypeVar("NodeT", bound="BaseNode")
OptionsT = TypeVar("OptionsT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class NodeResult:
    """A node's outcome: the new state and the next node's name (or ``END``)."""

    state: AgentState
    next: str


@dataclass(frozen=True, slots=True)
class RunContext:
    """Per request: where output goes and the ports tools use."""

    sink: ResponseSink
    ports: Ports


@dataclass(frozen=True, slots=True)
class NodeDeps:
    """Per agent (built once by the factory): what nodes may need."""

    system_prompt: str
    tools: ToolRegistry
    cache: ToolResultCache
    llm: LLMOptions
    model: ChatModel | None = None
    idempotency_ttl_s: int = 7 * 24 * 3600


class NodeOptions(BaseModel):
    """Base of node options (``options:`` of a node in the YAML); unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseNode(ABC):
    """One step of an agent graph.

    :meth:`execute` is the template: :meth:`prepare` (default: the state as is), :meth:`run`
    (the node's work, abstract), :meth:`finalize` (records the step; subclasses that override
    it call ``super()``). Nodes keep no per-request data on ``self``: one instance serves
    every request of the agent, concurrently.
    """

    kind: ClassVar[str] = ""

    def __init__(self, name: str, deps: NodeDeps) -> None:
        self.name = name
        self.deps = deps

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], deps: NodeDeps) -> BaseNode:
        """Build the node from its configuration (override to take options)."""
        if options:
            msg = f"node {name!r} ({cls.kind}) takes no options, got {sorted(options)}"
            raise AgentConfigError(msg)
        return cls(name, deps)

    def successors(self) -> tuple[str, ...]:
        """Every node this one may route to (checked against the graph when it is built)."""
        return ()

    async def execute(self, state: AgentState, ctx: RunContext) -> NodeResult:
        prepared = await self.prepare(state, ctx)
        result = await self.run(prepared, ctx)
        return await self.finalize(result, ctx)

    async def prepare(self, state: AgentState, ctx: RunContext) -> AgentState:
        del ctx
        return state

    @abstractmethod
    async def run(self, state: AgentState, ctx: RunContext) -> NodeResult: ...

    async def finalize(self, result: NodeResult, ctx: RunContext) -> NodeResult:
        del ctx
        state = result.state.model_copy(
            update={
                "node": result.next,
                "step": result.state.step + 1,
                "trace": (*result.state.trace, self.name),
            }
        )
        return NodeResult(state, result.next)

    async def emit(self, state: AgentState, ctx: RunContext, text: str) -> AgentState:
        """Send ``text`` as one delta and append it to the answer."""
        if not text:
            return state
        await ctx.sink.delta(text, state.delta_seq)
        return state.model_copy(
            update={"text": state.text + text, "delta_seq": state.delta_seq + 1}
        )


def parse_options(model: type[OptionsT], name: str, options: Mapping[str, Any]) -> OptionsT:
    """Validate a node's options with a clear configuration error."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        msg = f"node {name!r}: invalid options: {exc}"
        raise AgentConfigError(msg) from None


NODE_TYPES: dict[str, type[BaseNode]] = {}
"""Registered node kinds (the ``type`` of a node in an agent's graph)."""


def register_node(kind: str) -> Callable[[type[NodeT]], type[NodeT]]:
    """Class decorator: make a :class:`BaseNode` subclass available as ``type: kind``."""

    def register(cls: type[NodeT]) -> type[NodeT]:
        if kind in NODE_TYPES and NODE_TYPES[kind] is not cls:
            msg = f"a node type {kind!r} is already registered ({NODE_TYPES[kind].__name__})"
            raise AgentConfigError(msg)
        cls.kind = kind
        NODE_TYPES[kind] = cls
        return cls

    return register


def node_type(kind: str) -> type[BaseNode]:
    try:
        return NODE_TYPES[kind]
    except KeyError:
        msg = f"unknown node type {kind!r}; registered: {sorted(NODE_TYPES)}"
        raise AgentConfigError(msg) from None
