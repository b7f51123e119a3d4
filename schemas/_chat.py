"""Chat requests, streamed responses and agent tool calls."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas._base import EventData
from schemas._types import Id

ChatChannel = Literal["web", "telegram", "discord", "cli"]
MAX_TEXT = 16_000


class ChatMessageReceivedV1(EventData):
    event_type: ClassVar[str] = "ixo.chat.message.received.v1"
    key_field: ClassVar[str] = "session_id"

    session_id: Id
    user_id: Id
    channel: ChatChannel
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class ToolCall(BaseModel):
    """One tool call made while answering a request."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    call_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = None


class ChatResponseDeltaV1(EventData):
    event_type: ClassVar[str] = "ixo.chat.response.delta.v1"
    key_field: ClassVar[str] = "session_id"

    session_id: Id
    request_id: str = Field(min_length=1)
    seq: int = Field(ge=0, description="Position of this delta in the response")
    text: str


class ChatResponseCompletedV1(EventData):
    event_type: ClassVar[str] = "ixo.chat.response.completed.v1"
    key_field: ClassVar[str] = "session_id"

    session_id: Id
    request_id: str = Field(min_length=1)
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    # The turn it answers, so the conversation history folds from this topic alone.
    user_id: Id | None = None
    prompt: str | None = Field(default=None, max_length=MAX_TEXT)
    degraded: Literal["offline", "error"] | None = None
    """Set when the model could not answer in time: ``offline``, the offline assistant answered
    instead; ``error``, the answer says why nothing could (decision 0089)."""


class AgentToolCalledV1(EventData):
    event_type: ClassVar[str] = "ixo.agent.tool.called.v1"
    key_field: ClassVar[str] = "session_id"

    session_id: Id
    request_id: str = Field(min_length=1)
    call: ToolCall
