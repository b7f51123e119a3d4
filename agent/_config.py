"""Agent configuration: which nodes (as graphs), which tools, which model, which system prompt,
which stores. Loaded from YAML (PyYAML), a mapping, or a packaged agent by name."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent._errors import AgentConfigError
from agent._llm import LLMOptions

StoreKind = Literal["redis", "mongodb", "memory"]
CONFIG_PACKAGE: Final = "agent.configs"


class NodeSpec(BaseModel):
    """One node of a graph: its registered ``type`` and that type's ``options``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    options: dict[str, Any] = Field(default_factory=dict)


class GraphSpec(BaseModel):
    """Named nodes and the one to start at. Each node routes by returning a node name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entry: str
    nodes: dict[str, NodeSpec] = Field(min_length=1)
    max_steps: int = Field(default=32, ge=1, le=1000)


class StoreConfig(BaseModel):
    """Which implementation holds checkpoints and tool results (the Strategy choice)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoints: StoreKind = "redis"
    tool_cache: StoreKind = "redis"
    checkpoint_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    key_prefix: str = "agent:"
    checkpoint_collection: str = "agent_checkpoints"
    cache_collection: str = "agent_tool_cache"


class AgentConfig(BaseModel):
    """An agent. ``graph`` runs when a model is configured, ``offline_graph`` otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    description: str = ""
    system_prompt: str = ""
    tools: list[str] = Field(default_factory=list)
    llm: LLMOptions = Field(default_factory=LLMOptions)
    graph: GraphSpec | None = None
    offline_graph: GraphSpec
    stores: StoreConfig = Field(default_factory=StoreConfig)
    history_limit: int = Field(default=20, ge=0, le=500)

    def override(
        self,
        *,
        stream: bool | None = None,
        request_timeout_s: float | None = None,
        max_tool_rounds: int | None = None,
        checkpoints: StoreKind | None = None,
    ) -> AgentConfig:
        """This configuration with the given model options and checkpoint store instead of its
        own (``None`` keeps the configuration's value): how deployment settings such as
        ``IXO_LLM_STREAM`` or ``IXO_AGENT_CHECKPOINTS`` reach an agent. Validated like YAML."""
        llm = {
            "stream": stream,
            "request_timeout_s": request_timeout_s,
            "max_tool_rounds": max_tool_rounds,
        }
        data = self.model_dump()
        data["llm"].update({k: v for k, v in llm.items() if v is not None})
        if checkpoints is not None:
            data["stores"]["checkpoints"] = checkpoints
        return _validate(data, f"agent {self.name} with settings")


def packaged_configs() -> list[str]:
    """Names of the agents shipped in ``agent/configs`` (``market-assistant``...)."""
    files = resources.files(CONFIG_PACKAGE).iterdir()
    return sorted(
        f.name.removesuffix(".yaml").replace("_", "-") for f in files if f.name.endswith(".yaml")
    )


def _read_yaml(text: str, where: str) -> AgentConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"{where}: not valid YAML: {exc}"
        raise AgentConfigError(msg) from None
    if not isinstance(data, Mapping):
        msg = f"{where}: expected a mapping at the top level"
        raise AgentConfigError(msg)
    return _validate(data, where)


def _validate(data: Mapping[str, Any], where: str) -> AgentConfig:
    try:
        return AgentConfig.model_validate(dict(data))
    except ValidationError as exc:
        msg = f"{where}: invalid agent configuration: {exc}"
        raise AgentConfigError(msg) from None


def load_config(source: AgentConfig | Mapping[str, Any] | Path | str) -> AgentConfig:
    """An agent configuration from a packaged name (``market-assistant``), a YAML file path, a
    mapping, or an :class:`AgentConfig` as is."""
    if isinstance(source, AgentConfig):
        return source
    if isinstance(source, Mapping):
        return _validate(source, "agent configuration")
    path = Path(source)
    if isinstance(source, Path) or path.suffix in {".yaml", ".yml"}:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"cannot read agent configuration {path}: {exc.strerror}"
            raise AgentConfigError(msg) from None
        return _read_yaml(text, str(path))
    resource = resources.files(CONFIG_PACKAGE).joinpath(f"{source.replace('-', '_')}.yaml")
    if not resource.is_file():
        msg = f"no packaged agent {source!r}; packaged: {packaged_configs()}"
        raise AgentConfigError(msg)
    return _read_yaml(resource.read_text(encoding="utf-8"), f"agent {source}")
