"""Chat: a user's message becomes ``ixo.chat.message.received.v1`` on ``ixo.chat.requests``; the
answer streams back from ``ixo.chat.responses``; answered turns are read from the
``conversations`` read model.

A session belongs to the user who opened it (decision 0114): :meth:`ChatService.claim` records
the owner in Redis when a session starts, and :meth:`ChatService.owns` is what the gateway asks
before it streams a session's answers; a session known only from the ``conversations`` read
model (Redis lost, or the key expired) belongs to the user who spoke in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.kafka import StreamRecord, default_since, stream_records
from infra.redis import key_prefix
from infra.settings import Settings
from readmodels import Conversation, ReadModels
from schemas import (
    CHAT_REQUESTS,
    CHAT_RESPONSES,
    AnyEvent,
    ChatChannel,
    ChatMessageReceivedV1,
    TransientError,
    new_event_id,
)
from services._commands import Commands, Publisher

OWNER_TTL_S: Final = 30 * 24 * 3600
"""How long a session's owner is kept in Redis after its last message (then the
``conversations`` read model answers)."""


@dataclass(frozen=True, slots=True)
class Submitted:
    session_id: str
    request_id: str
    event: AnyEvent


class ChatService:
    def __init__(
        self,
        publisher: Publisher,
        reads: ReadModels,
        settings: Settings,
        *,
        source: str,
        redis: Redis | None = None,
    ) -> None:
        self._commands = Commands(
            publisher, source=source, topic=CHAT_REQUESTS, id_field="session_id"
        )
        self._reads = reads
        self._settings = settings
        self._redis = redis
        self._prefix = key_prefix(settings, "chat")

    def _owner_key(self, session_id: str) -> str:
        return f"{self._prefix}owner:{session_id}"

    def _kv(self) -> Redis:
        if self._redis is None:
            msg = "this service has no Redis (session ownership needs one)"
            raise RuntimeError(msg)
        return self._redis

    async def _spoken_by(self, session_id: str) -> str | None:
        """The user of the session's last answered turn (None when it has none)."""
        turns = await self._reads.conversation(session_id, limit=1)
        return turns[-1].user_id if turns else None

    async def claim(self, session_id: str, user_id: str) -> bool:
        """Whether ``session_id`` is ``user_id``'s to write to: a new session becomes theirs
        (and their ownership is kept :data:`OWNER_TTL_S` more); another user's is not."""
        kv = self._kv()
        key = self._owner_key(session_id)
        try:
            owner = await kv.get(key)
            if owner is None:
                spoken = await self._spoken_by(session_id)
                if spoken is not None and spoken != user_id:
                    return False
                if await kv.set(key, user_id, ex=OWNER_TTL_S, nx=True):
                    return True
                owner = await kv.get(key)
            if _text(owner) != user_id:
                return False
            await kv.expire(key, OWNER_TTL_S)
        except RedisError as exc:
            msg = f"Redis unavailable: {exc}"
            raise TransientError(msg) from None
        return True

    async def owns(self, session_id: str, user_id: str) -> bool:
        """Whether ``user_id`` opened ``session_id`` (what reading its answers needs)."""
        try:
            owner = _text(await self._kv().get(self._owner_key(session_id)))
        except RedisError as exc:
            msg = f"Redis unavailable: {exc}"
            raise TransientError(msg) from None
        if owner is None:
            owner = await self._spoken_by(session_id)
        return owner == user_id

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


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
