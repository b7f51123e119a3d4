"""The Impressox LLM agent library: graphs of small nodes over a typed, checkpointed state.

- :class:`AgentFactory` builds an :class:`Agent` from configuration (the packaged
  ``market-assistant``, a YAML file or a mapping): nodes, tools, model, system prompt, stores.
- :meth:`Agent.answer` answers one chat request through a :class:`ResponseSink`, using tools
  through :class:`Ports`; it is idempotent per request id (checkpoints + idempotency keys).
- :class:`BaseNode` (prepare -> run -> finalize) and ``@register_node`` add node kinds;
  :class:`AgentOrchestrator` runs a graph and checkpoints after every step.
- ``@tool`` registers tools (typed pydantic arguments -> JSON Schema); :data:`TOOLS` holds the
  built-in ``get_price``, ``create_alert``, ``list_alerts`` (rules, and fired alerts when an
  :class:`AlertsPort` is wired), ``delete_alert``, and the knowledge tools ``search_knowledge``
  and ``recent_posts`` (a :class:`KnowledgePort` in ``Ports.extras["knowledge"]``; every passage
  carries its citation), and the chain tools ``register_onchain_alert`` and ``chain_events``
  (a :class:`ChainPort` in ``Ports.extras["chain"]``).
- :class:`OpenAIChatModel` talks to any OpenAI-compatible Chat Completions API; without one
  the agent runs the deterministic command planner (:func:`plan`).
- Stores (Strategy): :class:`CheckpointStore` and :class:`ToolResultCache`, in Redis (default),
  MongoDB or memory.

Imports :mod:`schemas` and third-party libraries only; Kafka and the read models are reached
through the ports, implemented by the wiring layer.
"""

from agent import (  # noqa: F401 - register tools and node kinds
    _chain_tools,
    _knowledge_tools,
    _market_tools,
    _nodes,
    _planner,
)
from agent._chain_tools import (
    CHAIN_PORT,
    ChainEventsArgs,
    RegisterOnchainAlertArgs,
    event_summary,
)
from agent._config import (
    AgentConfig,
    GraphSpec,
    NodeSpec,
    StoreConfig,
    StoreKind,
    load_config,
    packaged_configs,
)
from agent._errors import (
    AgentConfigError,
    ModelRejected,
    ModelUnavailable,
    StaleCheckpoint,
    StepLimitExceeded,
    ToolError,
)
from agent._factory import Agent, AgentFactory, Answer
from agent._knowledge_tools import (
    KNOWLEDGE_PORT,
    RecentPostsArgs,
    SearchKnowledgeArgs,
    hit_summary,
    post_summary,
)
from agent._llm import LLMEndpoint, LLMOptions, OpenAIChatModel
from agent._market_tools import (
    CreateAlertArgs,
    DeleteAlertArgs,
    GetPriceArgs,
    ListAlertsArgs,
    alert_summary,
    rule_summary,
)
from agent._memory import MemoryCheckpointStore, MemoryToolResultCache
from agent._messages import Message, ModelReply, Role, ToolRequest
from agent._mongo import MongoCheckpointStore, MongoToolResultCache
from agent._node import (
    NODE_TYPES,
    BaseNode,
    NodeDeps,
    NodeOptions,
    NodeResult,
    RunContext,
    node_type,
    register_node,
)
from agent._nodes import LLMNode, RespondNode, ToolsNode
from agent._orchestrator import AgentOrchestrator, RunOutcome
from agent._planner import HELP, Command, CommandPlannerNode, ComposeNode, Reply, describe, plan
from agent._redis import RedisCheckpointStore, RedisToolResultCache
from agent._state import END, AgentState
from agent._tools import (
    AGENT_NAMESPACE,
    TOOLS,
    Tool,
    ToolArgumentsError,
    ToolContext,
    ToolRegistry,
    tool,
)
from agent._types import (
    AlertsPort,
    AlertView,
    ChainLogView,
    ChainPort,
    ChatModel,
    CheckpointStore,
    DeltaCallback,
    KnowledgeHitView,
    KnowledgePort,
    OnchainAlertView,
    Ports,
    PostView,
    PricePort,
    ResponseSink,
    RulesPort,
    RuleView,
    ToolResultCache,
    ToolSpec,
)

__all__ = [
    "AGENT_NAMESPACE",
    "CHAIN_PORT",
    "END",
    "HELP",
    "KNOWLEDGE_PORT",
    "NODE_TYPES",
    "TOOLS",
    "Agent",
    "AgentConfig",
    "AgentConfigError",
    "AgentFactory",
    "AgentOrchestrator",
    "AgentState",
    "AlertView",
    "AlertsPort",
    "Answer",
    "BaseNode",
    "ChainEventsArgs",
    "ChainLogView",
    "ChainPort",
    "ChatModel",
    "CheckpointStore",
    "Command",
    "CommandPlannerNode",
    "ComposeNode",
    "CreateAlertArgs",
    "DeleteAlertArgs",
    "DeltaCallback",
    "GetPriceArgs",
    "GraphSpec",
    "KnowledgeHitView",
    "KnowledgePort",
    "LLMEndpoint",
    "LLMNode",
    "LLMOptions",
    "ListAlertsArgs",
    "MemoryCheckpointStore",
    "MemoryToolResultCache",
    "Message",
    "ModelRejected",
    "ModelReply",
    "ModelUnavailable",
    "MongoCheckpointStore",
    "MongoToolResultCache",
    "NodeDeps",
    "NodeOptions",
    "NodeResult",
    "NodeSpec",
    "OnchainAlertView",
    "OpenAIChatModel",
    "Ports",
    "PostView",
    "PricePort",
    "RecentPostsArgs",
    "RedisCheckpointStore",
    "RedisToolResultCache",
    "RegisterOnchainAlertArgs",
    "Reply",
    "RespondNode",
    "ResponseSink",
    "Role",
    "RuleView",
    "RulesPort",
    "RunContext",
    "RunOutcome",
    "SearchKnowledgeArgs",
    "StaleCheckpoint",
    "StepLimitExceeded",
    "StoreConfig",
    "StoreKind",
    "Tool",
    "ToolArgumentsError",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolRequest",
    "ToolResultCache",
    "ToolSpec",
    "ToolsNode",
    "alert_summary",
    "describe",
    "event_summary",
    "hit_summary",
    "load_config",
    "node_type",
    "packaged_configs",
    "plan",
    "post_summary",
    "register_node",
    "rule_summary",
    "tool",
]
