"""Chat: a user's message becomes ``ixo.chat.message.received.v1`` on ``ixo.chat.requests``; the
answer streams back from ``ixo.chat.responses``; answered turns are read from the
``conversations`` read model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from infra.kafka import StreamRecord, default_since, stream_records
from infra.settings import Settings
from readmodels import Conversation, ReadModels
from schemas import (
    CHAT_REQUESTS,
    CHAT_RESPONSES,
    AnyEvent,
    ChatChannel,
    ChatMessageReceivedV1,
    new_event_id,
)
from services._commands import Commands, Publisher


@dataclass(frozen=True, slots=True)
class Submitted:
    session_id: str
    request_id: str
    event: AnyEvent


class ChatService:
    def __init__(
        self, publisher: Publisher, reads: ReadModels, settings: Settings, *, source: str
    ) -> None:
        self._commands = Commands(
            publisher, source=source, topic=CHAT_REQUESTS, id_field="session_id"
        )
        self._reads = reads
        self._settings = settings

    async def submit(
        self,
        user_id: str,
        text: str,
        *,
        session_id: str | None = None,
        channel: ChatChannel = "web",
        event_id: str | None = None,
    ) -> Submitted:
        """Publish the message (a new session when ``session_id`` is absent)."""
        data = ChatMessageReceivedV1(
            session_id=session_id or new_event_id(), user_id=user_id, channel=channel, text=text
        )
        receipt = await self._commands.publish(data, event_id=event_id)
        return Submitted(data.session_id, receipt.event.id, receipt.event)

    def stream(
        self,
        session_id: str,
        *,
        since_s: float = 300.0,
        resume: tuple[int, int] | None = None,
    ) -> AsyncIterator[StreamRecord]:
        """The session's response records from ``since_s`` seconds ago (or right after
        ``resume``, a (partition, offset)), then live."""
        return stream_records(
            self._settings,
            CHAT_RESPONSES.full_name(self._settings.topic_prefix),
            key=session_id,
            since=default_since(since_s),
            resume=resume,
        )

    async def history(self, session_id: str, *, turns: int) -> list[Conversation]:
        """The session's last answered turns, oldest first."""
        return await self._reads.conversation(session_id, limit=turns)
