"""The built-in node kinds of a model-driven graph: ``llm`` -> ``tools`` -> ... -> ``respond``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Final

from agent._errors import AgentConfigError
from agent._messages import Message
from agent._node import (
    BaseNode,
    NodeDeps,
    NodeOptions,
    NodeResult,
    RunContext,
    parse_options,
    register_node,
)
from agent._state import END, AgentState
from agent._tools import ToolContext
from schemas import ToolCall

log = logging.getLogger(__name__)

SEPARATOR: Final = "\n\n"
NO_ANSWER: Final = "I have no answer to that."
ROUND_CAP: Final = (
    "I stopped after {rounds} rounds of tool calls without reaching an answer. "
    "Please ask again, more specifically."
)


def tool_content(call: ToolCall) -> str:
    """A tool call's outcome as the ``tool`` message content the model reads."""
    if call.error is not None:
        return json.dumps({"error": call.error})
    return json.dumps(call.result)


class LLMNodeOptions(NodeOptions):
    tools_node: str = "tools"
    done: str = "respond"
    max_tool_rounds: int | None = None


@register_node("llm")
class LLMNode(BaseNode):
    """One model round: streams the answer; routes to ``tools_node`` when the model asks for
    tool calls, else to ``done``. After ``max_tool_rounds`` rounds with tool calls the model is
    asked once more without tools, so it has to answer."""

    def __init__(self, name: str, deps: NodeDeps, options: LLMNodeOptions) -> None:
        super().__init__(name, deps)
        self.options = options
        self.max_tool_rounds = (
            options.max_tool_rounds
            if options.max_tool_rounds is not None
            else deps.llm.max_tool_rounds
        )

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], deps: NodeDeps) -> BaseNode:
        if deps.model is None:
            msg = f"node {name!r} (llm) needs a model, and none is configured"
            raise AgentConfigError(msg)
        return cls(name, deps, parse_options(LLMNodeOptions, name, options))

    def successors(self) -> tuple[str, ...]:
        return (self.options.tools_node, self.options.done)

    async def run(self, state: AgentState, ctx: RunContext) -> NodeResult:
        model = self.deps.model
        if model is None:  # pragma: no cover - refused by create()
            msg = "no model"
            raise AgentConfigError(msg)
        offer_tools = state.tool_rounds < self.max_tool_rounds and len(self.deps.tools) > 0
        pieces: list[str] = []
        seq = state.delta_seq

        async def on_delta(piece: str) -> None:
            nonlocal seq
            if not pieces and state.text:
                await ctx.sink.delta(SEPARATOR, seq)
                seq += 1
                pieces.append(SEPARATOR)
            await ctx.sink.delta(piece, seq)
            seq += 1
            pieces.append(piece)

        reply = await model.complete(
            state.messages, self.deps.tools.specs() if offer_tools else [], on_delta
        )
        calls = (
            tuple(
                c.model_copy(
                    update={
                        "index": state.next_call_index + i,
                        "call_id": c.call_id or f"call_{state.next_call_index + i}",
                    }
                )
                for i, c in enumerate(reply.tool_calls)
            )
            if offer_tools
            else ()
        )
        assistant = Message(role="assistant", content=reply.text or None, tool_calls=calls)
        new = state.model_copy(
            update={
                "messages": (*state.messages, assistant),
                "text": state.text + "".join(pieces),
                "delta_seq": seq,
            }
        )
        if calls:
            new = new.model_copy(
                update={
                    "pending": calls,
                    "next_call_index": state.next_call_index + len(calls),
                    "tool_rounds": state.tool_rounds + 1,
                }
            )
            return NodeResult(new, self.options.tools_node)
        if not new.text:
            capped = bool(reply.tool_calls) and not offer_tools
            fallback = ROUND_CAP.format(rounds=state.tool_rounds) if capped else NO_ANSWER
            new = await self.emit(new, ctx, fallback)
        return NodeResult(new, self.options.done)


class ToolsNodeOptions(NodeOptions):
    then: str = "llm"


@register_node("tools")
class ToolsNode(BaseNode):
    """Runs the pending tool calls in order (results back into the conversation, each call to
    the sink), then routes to ``then``."""

    def __init__(self, name: str, deps: NodeDeps, options: ToolsNodeOptions) -> None:
        super().__init__(name, deps)
        self.options = options

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], deps: NodeDeps) -> BaseNode:
        return cls(name, deps, parse_options(ToolsNodeOptions, name, options))

    def successors(self) -> tuple[str, ...]:
        return (self.options.then,)

    async def run(self, state: AgentState, ctx: RunContext) -> NodeResult:
        done: list[ToolCall] = []
        messages = list(state.messages)
        for request in state.pending:
            tool_ctx = ToolContext(
                request_id=state.request_id,
                session_id=state.session_id,
                user_id=state.user_id,
                channel=state.channel,
                call_index=request.index,
                ports=ctx.ports,
            )
            call = await self.deps.tools.execute(
                request, tool_ctx, self.deps.cache, idempotency_ttl_s=self.deps.idempotency_ttl_s
            )
            log.info(
                "tool called",
                extra={
                    "request_id": state.request_id,
                    "tool": call.name,
                    "call_index": request.index,
                    "error": call.error,
                },
            )
            messages.append(
                Message(role="tool", tool_call_id=request.call_id, content=tool_content(call))
            )
            await ctx.sink.tool_called(call)
            done.append(call)
        new = state.model_copy(
            update={
                "pending": (),
                "tool_calls": (*state.tool_calls, *done),
                "messages": tuple(messages),
            }
        )
        return NodeResult(new, self.options.then)


@register_node("respond")
class RespondNode(BaseNode):
    """Hands the final answer and every tool call to the sink; ends the run."""

    async def run(self, state: AgentState, ctx: RunContext) -> NodeResult:
        await ctx.sink.completed(state.text, state.tool_calls)
        return NodeResult(state, END)
