"""``AgentFactory`` builds an :class:`Agent` from configuration; ``Agent.answer`` is the one
entry point the orchestrator consumer calls per chat request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from agent._config import AgentConfig, StoreConfig, StoreKind, load_config
from agent._errors import AgentConfigError
from agent._llm import LLMEndpoint, OpenAIChatModel
from agent._memory import MemoryCheckpointStore, MemoryToolResultCache
from agent._messages import Message
from agent._mongo import MongoCheckpointStore, MongoToolResultCache
from agent._node import BaseNode, NodeDeps, RunContext, node_type
from agent._orchestrator import AgentOrchestrator
from agent._redis import RedisCheckpointStore, RedisToolResultCache
from agent._state import AgentState
from agent._tools import TOOLS, ToolRegistry
from agent._types import ChatModel, CheckpointStore, Ports, ResponseSink, ToolResultCache
from schemas import ChatMessageReceivedV1, ToolCall


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of :meth:`Agent.answer`.

    ``resumed``: the run continued from a checkpoint; ``replayed``: the request had already
    been answered, so nothing was run or emitted (the text is the stored answer).
    """

    text: str
    tool_calls: tuple[ToolCall, ...]
    resumed: bool = False
    replayed: bool = False


class Agent:
    """A built agent: its configuration, tools, model (or none: offline) and orchestrator.

    One instance serves every request of a process, concurrently.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        tools: ToolRegistry,
        orchestrator: AgentOrchestrator,
        model: ChatModel | None,
    ) -> None:
        self.config = config
        self.tools = tools
        self.orchestrator = orchestrator
        self.model = model

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def online(self) -> bool:
        """True when a language model answers; False: the offline command planner."""
        return self.model is not None

    def initial_state(
        self, request: ChatMessageReceivedV1, request_id: str, history: Sequence[Message] = ()
    ) -> AgentState:
        messages: list[Message] = []
        if self.config.system_prompt:
            messages.append(Message(role="system", content=self.config.system_prompt.strip()))
        turns = [m for m in history if m.role in {"user", "assistant"} and m.content]
        limit = self.config.history_limit
        messages.extend(turns[-limit:] if limit else [])
        messages.append(Message(role="user", content=request.text))
        return AgentState(
            request_id=request_id,
            session_id=request.session_id,
            user_id=request.user_id,
            channel=request.channel,
            agent=self.name,
            messages=tuple(messages),
        )

    async def answer(
        self,
        request: ChatMessageReceivedV1,
        *,
        request_id: str,
        sink: ResponseSink,
        ports: Ports | None = None,
        history: Sequence[Message] = (),
    ) -> Answer:
        """Answer one chat request: stream deltas, report tool calls, then the completion, all
        through ``sink``. Idempotent per ``request_id``: a redelivered request resumes from its
        checkpoint, or, if it was answered already, emits nothing and returns the stored answer.

        ``history``: earlier user/assistant turns of the session (oldest first), e.g. from the
        ``conversations`` projection; the last ``history_limit`` are sent to the model.
        Raises ``TransientError`` (retry later: model or store unavailable) or
        ``PermanentError`` (retrying will not help).
        """
        outcome = await self.orchestrator.run(
            self.initial_state(request, request_id, history),
            RunContext(sink=sink, ports=ports or Ports()),
        )
        return Answer(
            text=outcome.state.text,
            tool_calls=outcome.state.tool_calls,
            resumed=outcome.resumed,
            replayed=outcome.replayed,
        )

    async def aclose(self) -> None:
        if self.model is not None:
            await self.model.aclose()


class AgentFactory:
    """Builds agents from configuration, with the stores it names.

    The Redis client and the MongoDB database are passed in (built by the wiring layer from
    settings); only the ones the configuration asks for are needed. ``key_prefix`` is put
    before the configuration's own Redis key prefix (e.g. the deployment's topic prefix).
    """

    def __init__(
        self,
        *,
        redis: Redis | None = None,
        mongo: AsyncDatabase[dict[str, Any]] | None = None,
        key_prefix: str = "",
        registry: ToolRegistry | None = None,
    ) -> None:
        self.redis = redis
        self.mongo = mongo
        self.key_prefix = key_prefix
        self.registry = registry if registry is not None else TOOLS

    def checkpoint_store(self, config: StoreConfig) -> CheckpointStore:
        kind = config.checkpoints
        if kind == "redis":
            return RedisCheckpointStore(
                self._redis(kind, "checkpoints"),
                key_prefix=self.key_prefix + config.key_prefix,
                ttl_s=config.checkpoint_ttl_s,
            )
        if kind == "mongodb":
            return MongoCheckpointStore(
                self._mongo(kind, "checkpoints"),
                collection=config.checkpoint_collection,
                ttl_s=config.checkpoint_ttl_s,
            )
        return MemoryCheckpointStore(ttl_s=config.checkpoint_ttl_s)

    def tool_cache(self, config: StoreConfig) -> ToolResultCache:
        kind = config.tool_cache
        if kind == "redis":
            return RedisToolResultCache(
                self._redis(kind, "tool_cache"), key_prefix=self.key_prefix + config.key_prefix
            )
        if kind == "mongodb":
            return MongoToolResultCache(
                self._mongo(kind, "tool_cache"), collection=config.cache_collection
            )
        return MemoryToolResultCache()

    def _redis(self, kind: StoreKind, what: str) -> Redis:
        if self.redis is None:
            msg = f"stores.{what} is {kind}, but the factory was given no Redis client"
            raise AgentConfigError(msg)
        return self.redis

    def _mongo(self, kind: StoreKind, what: str) -> AsyncDatabase[dict[str, Any]]:
        if self.mongo is None:
            msg = f"stores.{what} is {kind}, but the factory was given no MongoDB database"
            raise AgentConfigError(msg)
        return self.mongo

    def build(
        self,
        config: AgentConfig | Mapping[str, Any] | Path | str,
        *,
        llm: LLMEndpoint | None = None,
        model: ChatModel | None = None,
        checkpoints: CheckpointStore | None = None,
        cache: ToolResultCache | None = None,
    ) -> Agent:
        """Build the agent ``config`` names (a packaged name such as ``market-assistant``, a
        YAML path, a mapping or an :class:`AgentConfig`).

        The model: ``model`` if given; else an :class:`OpenAIChatModel` when ``llm`` names a
        model (or the configuration does) and a base URL or key; else none, and the agent runs
        its ``offline_graph`` (the command planner). ``checkpoints``/``cache`` override the
        stores the configuration names.
        """
        cfg = load_config(config)
        tools = self.registry.select(cfg.tools)
        if model is None and llm is not None and llm.configured(cfg.llm.model):
            model = OpenAIChatModel(llm, cfg.llm)
        online = model is not None
        if online and cfg.graph is None:
            msg = f"agent {cfg.name}: a model is configured but the agent has no `graph`"
            raise AgentConfigError(msg)
        spec = cfg.graph if online and cfg.graph is not None else cfg.offline_graph
        deps = NodeDeps(
            system_prompt=cfg.system_prompt,
            tools=tools,
            cache=cache if cache is not None else self.tool_cache(cfg.stores),
            llm=cfg.llm,
            model=model,
            idempotency_ttl_s=cfg.stores.checkpoint_ttl_s,
        )
        nodes: dict[str, BaseNode] = {
            name: node_type(node.type).create(name, node.options, deps)
            for name, node in spec.nodes.items()
        }
        orchestrator = AgentOrchestrator(
            graph=f"{cfg.name}:{'online' if online else 'offline'}",
            nodes=nodes,
            entry=spec.entry,
            checkpoints=checkpoints
            if checkpoints is not None
            else self.checkpoint_store(cfg.stores),
            max_steps=spec.max_steps,
        )
        return Agent(cfg, tools=tools, orchestrator=orchestrator, model=model)
