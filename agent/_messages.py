"""Chat messages and tool requests as the agent keeps them (independent of any LLM SDK)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class ToolRequest(BaseModel):
    """A tool call the model (or the command planner) asked for, not yet executed.

    ``index`` numbers the calls of one request from 0, across rounds: with the request id it
    forms the idempotency key of the call's side effects. ``arguments`` is the raw JSON text
    the model produced (it may be invalid; validation happens when the tool runs).
    """

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0)
    call_id: str
    name: str
    arguments: str = "{}"


class Message(BaseModel):
    """One chat message: ``tool_calls`` on assistant turns, ``tool_call_id`` on tool results."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str | None = None
    tool_calls: tuple[ToolRequest, ...] = ()
    tool_call_id: str | None = None


class ModelReply(BaseModel):
    """What one model round produced: streamed text and/or tool calls."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    tool_calls: tuple[ToolRequest, ...] = ()
    finish_reason: str | None = None
