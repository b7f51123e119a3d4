"""The ``conversations`` projection: one document per answered turn (the user's prompt and the
agent's answer), folded from ``ixo.chat.response.completed.v1`` alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import ClassVar

from consumers.projector._documents import offset_order, to_document
from consumers.projector._rows import Positioned, Row
from readmodels import Conversation, ReadModel
from schemas import CHAT_RESPONSES, ChatResponseCompletedV1, Topic


class ConversationsProjection:
    """Maps completed responses to ``conversations`` rows (a repeated answer of one request
    keeps one document)."""

    name: ClassVar[str] = "conversations"
    topic: ClassVar[Topic] = CHAT_RESPONSES
    document: ClassVar[type[ReadModel]] = Conversation

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            data = item.event.data
            if not isinstance(data, ChatResponseCompletedV1):
                continue
            order = offset_order(item.partition, item.offset)
            doc = {
                "_id": data.request_id,
                "session_id": data.session_id,
                "request_id": data.request_id,
                "user_id": data.user_id,
                "prompt": data.prompt,
                "answer": data.text,
                "tool_calls": to_document(list(data.tool_calls)),
                "answered_at": item.event.time.astimezone(UTC),
                "event_id": item.event.id,
                "order": order,
            }
            out.append(Row(key=data.request_id, order=order, doc=doc))
        return out
