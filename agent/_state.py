"""The typed state an agent run carries from node to node, checkpointed after every step."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from agent._messages import Message, ToolRequest
from schemas import ChatChannel, ToolCall

END: Final = "__end__"
"""The pseudo-node a node routes to when the run is finished."""


class AgentState(BaseModel):
    """Everything needed to continue a request after a crash.

    - ``messages``: the conversation sent to the model (system prompt, history, user turn,
      assistant turns with tool calls, tool results).
    - ``pending``: tool calls requested but not executed yet; ``tool_calls``: the executed ones
      (with result or error), in call order; ``next_call_index``: index of the next call.
    - ``node``: the node to run next (``END`` when finished); ``step``: steps taken so far;
      ``trace``: node names in the order they ran.
    - ``text``: the answer so far; ``streamed``: whether ``text`` already went out as deltas;
      ``delta_seq``: the position of the next delta.
    """

    model_config = ConfigDict(frozen=True)

    request_id: str = Field(min_length=1)
    session_id: str
    user_id: str
    channel: ChatChannel = "cli"
    agent: str = ""
    graph: str = ""
    messages: tuple[Message, ...] = ()
    pending: tuple[ToolRequest, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    next_call_index: int = 0
    tool_rounds: int = 0
    node: str = ""
    step: int = 0
    trace: tuple[str, ...] = ()
    text: str = ""
    streamed: bool = False
    delta_seq: int = 0

    @property
    def done(self) -> bool:
        return self.node == END

    @property
    def user_text(self) -> str:
        """The content of the last user message ("" if none)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content or ""
        return ""
