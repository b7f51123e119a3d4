"""The tool registry: ``@tool`` registration, JSON Schema from typed arguments, and safe calls.

A tool is an async function ``(args: SomeArgs, ctx: ToolContext) -> result`` where ``SomeArgs``
is a pydantic model: its JSON Schema is what the model sees as the tool's ``parameters``, and
the model's arguments are validated against it before the function runs. Invalid arguments
(bad JSON, a failing field) never crash a run: the error text goes back to the model as the
tool's result, so it can correct itself on the next round. A :class:`ToolError` (or any
``PermanentError``) raised by a tool is reported the same way; a ``TransientError`` propagates,
so the whole request is retried later and resumes from its checkpoint.

Extending: later tools (knowledge search, chain watches...) register the same way, on the
default registry or one of their own, and reach their port through ``ctx.ports.extra(name)``::

    class SearchArgs(BaseModel):
        query: str = Field(description="What to look for")
        limit: int = Field(default=5, ge=1, le=20)

    @tool(description="Search the knowledge base (docs, posts) for passages.", cache_ttl_s=60)
    async def search_knowledge(args: SearchArgs, ctx: ToolContext) -> list[dict[str, str]]:
        index: KnowledgePort = ctx.ports.extra("knowledge")
        return [hit.model_dump(mode="json") for hit in await index.search(args.query, args.limit)]

then list ``search_knowledge`` under ``tools:`` in the agent's YAML and pass
``Ports(extras={"knowledge": ...})`` to :meth:`Agent.answer`.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar, get_type_hints

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from agent._errors import AgentConfigError
from agent._messages import ToolRequest
from agent._types import Ports, ToolResultCache, ToolSpec
from schemas import ChatChannel, PermanentError, ToolCall

AGENT_NAMESPACE: Final = uuid.UUID("0b8f1a4e-6f2d-5c3a-9e61-7a6b1f2d9c40")
"""uuid5 namespace of ids derived from a request id and a call index (e.g. rule ids)."""

ArgsT = TypeVar("ArgsT", bound=BaseModel)
ToolFunc = Callable[[ArgsT, "ToolContext"], Awaitable[Any]]
MAX_ERROR_ITEMS: Final = 5


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool knows about the call: who asked, which request, which call, which ports."""

    request_id: str
    session_id: str
    user_id: str
    channel: ChatChannel
    call_index: int
    ports: Ports

    @property
    def idempotency_key(self) -> str:
        """Stable across redeliveries and resumes of the same request: ``<request_id>:<n>``."""
        return f"{self.request_id}:{self.call_index}"

    def derived_id(self) -> str:
        """A UUID derived from the idempotency key (e.g. the id of the rule a call creates)."""
        return str(uuid.uuid5(AGENT_NAMESPACE, self.idempotency_key))


class ToolArgumentsError(ValueError):
    """The model's arguments for a tool are not valid JSON or fail validation."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A registered tool.

    ``side_effect``: the result is cached under the call's idempotency key, so a resumed or
    redelivered request gets the first result back without calling the tool again.
    ``cache_ttl_s``: for read-only tools whose result depends on the arguments only, results
    are cached by name and arguments for that long (0: never).
    """

    name: str
    description: str
    args_model: type[BaseModel]
    func: Callable[[Any, ToolContext], Awaitable[Any]]
    side_effect: bool = False
    cache_ttl_s: int = 0

    def spec(self) -> dict[str, Any]:
        """The Chat Completions ``tools`` entry of this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.args_model.model_json_schema(),
            },
        }

    def parse(self, raw: str) -> tuple[dict[str, Any], BaseModel]:
        """The arguments as JSON and as the validated model; :class:`ToolArgumentsError` else."""
        text = raw.strip() or "{}"
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = (
                f"invalid arguments for {self.name}: not valid JSON ({exc.msg} at position "
                f"{exc.pos}); send one JSON object matching the parameters schema"
            )
            raise ToolArgumentsError(msg) from None
        if not isinstance(data, dict):
            msg = f"invalid arguments for {self.name}: expected a JSON object, got {text[:80]}"
            raise ToolArgumentsError(msg)
        try:
            return data, self.args_model.model_validate(data)
        except ValidationError as exc:
            raise ToolArgumentsError(_explain(self.name, exc)) from None


def _explain(name: str, exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:MAX_ERROR_ITEMS]:
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        got = error.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        parts.append(f"{where}: {error['msg']}{shown}")
    more = exc.error_count() - MAX_ERROR_ITEMS
    if more > 0:
        parts.append(f"and {more} more")
    return f"invalid arguments for {name}: " + "; ".join(parts)


def _args_model(func: Callable[..., Any]) -> type[BaseModel]:
    params = list(inspect.signature(func).parameters)
    hints = get_type_hints(func)
    model = hints.get(params[0]) if params else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        msg = f"tool {func.__name__}: the first parameter must be annotated with a pydantic model"
        raise AgentConfigError(msg)
    return model


class ToolRegistry:
    """Tools by name. The default one, :data:`TOOLS`, holds the built-in tools."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._specs: list[ToolSpec] | None = None
        for t in tools:
            self.register(t)

    def register(self, t: Tool) -> Tool:
        if t.name in self._tools:
            msg = f"a tool named {t.name!r} is already registered"
            raise AgentConfigError(msg)
        self._tools[t.name] = t
        self._specs = None
        return t

    def tool(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        side_effect: bool = False,
        cache_ttl_s: int = 0,
    ) -> Callable[[ToolFunc[ArgsT]], ToolFunc[ArgsT]]:
        """Decorator: register an async ``(args, ctx)`` function as a tool."""

        def register(func: ToolFunc[ArgsT]) -> ToolFunc[ArgsT]:
            text = description or inspect.getdoc(func) or ""
            if not text:
                msg = f"tool {func.__name__}: give a description (or a docstring)"
                raise AgentConfigError(msg)
            self.register(
                Tool(
                    name=name or func.__name__,
                    description=text,
                    args_model=_args_model(func),
                    func=func,
                    side_effect=side_effect,
                    cache_ttl_s=cache_ttl_s,
                )
            )
            return func

        return register

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def select(self, names: Iterable[str]) -> ToolRegistry:
        """A registry with only ``names`` (in that order); unknown names are an error."""
        wanted = list(names)
        unknown = [n for n in wanted if n not in self._tools]
        if unknown:
            msg = f"unknown tools {unknown}; registered: {sorted(self._tools)}"
            raise AgentConfigError(msg)
        return ToolRegistry(self._tools[n] for n in wanted)

    def specs(self) -> list[ToolSpec]:
        """The ``tools`` list of a Chat Completions request (computed once per registry)."""
        if self._specs is None:
            self._specs = [t.spec() for t in self._tools.values()]
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    async def execute(
        self,
        request: ToolRequest,
        ctx: ToolContext,
        cache: ToolResultCache,
        *,
        idempotency_ttl_s: int,
    ) -> ToolCall:
        """Run one requested call; every failure but a transient one becomes the call's error."""
        t = self._tools.get(request.name)
        if t is None:
            return ToolCall(
                call_id=request.call_id,
                name=request.name,
                arguments=_loose(request.arguments),
                error=f"unknown tool {request.name!r}; available tools: {', '.join(self._tools)}",
            )
        try:
            arguments, args = t.parse(request.arguments)
        except ToolArgumentsError as exc:
            return ToolCall(
                call_id=request.call_id,
                name=t.name,
                arguments=_loose(request.arguments),
                error=str(exc),
            )
        key = _cache_key(t, ctx, args)
        if key is not None:
            hit = await cache.get(key)
            if hit is not None:
                cached = json.loads(hit)
                return ToolCall(
                    call_id=request.call_id,
                    name=t.name,
                    arguments=arguments,
                    result=cached.get("result"),
                    error=cached.get("error"),
                )
        result: Any = None
        error: str | None = None
        try:
            result = to_jsonable_python(await t.func(args, ctx))
        except PermanentError as exc:
            error = str(exc)
        if key is not None and (t.side_effect or error is None):
            ttl = idempotency_ttl_s if t.side_effect else t.cache_ttl_s
            await cache.put(key, json.dumps({"result": result, "error": error}), ttl)
        return ToolCall(
            call_id=request.call_id, name=t.name, arguments=arguments, result=result, error=error
        )


def _cache_key(t: Tool, ctx: ToolContext, args: BaseModel) -> str | None:
    if t.side_effect:
        return f"fx:{ctx.idempotency_key}:{t.name}"
    if t.cache_ttl_s > 0:
        canonical = json.dumps(args.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return f"rd:{t.name}:{canonical}"
    return None


def _loose(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_raw": raw}
    return data if isinstance(data, dict) else {"_raw": raw}


TOOLS: Final = ToolRegistry()
"""The default registry: the built-in tools register here on import of :mod:`agent`."""


def tool(
    name: str | None = None,
    *,
    description: str | None = None,
    side_effect: bool = False,
    cache_ttl_s: int = 0,
) -> Callable[[ToolFunc[ArgsT]], ToolFunc[ArgsT]]:
    """Register a tool on the default registry :data:`TOOLS` (see :meth:`ToolRegistry.tool`)."""
    return TOOLS.tool(
        name, description=description, side_effect=side_effect, cache_ttl_s=cache_ttl_s
    )
