"""The agent's answers back to the chat: each bot process consumes ``ixo.chat.responses``, keeps
the ``ixo.chat.response.completed.v1`` of its own platform's sessions and sends the text to the
chat through an :class:`AnswerSink` (aiogram's ``Bot``, hikari's REST client).

An answer is marked as sent in Redis once the platform accepted it, so a redelivered batch does
not send it again (a crash between the send and the mark can repeat one answer: at least once).
A sink raises :class:`TransientError` to have the batch retried and :class:`PermanentError`
when the chat cannot be reached (bot blocked, channel gone): that answer is logged and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, Protocol

from redis.asyncio import Redis

from bots._redis import redis_errors
from bots._sessions import parse_session
from bots._types import BotPlatform
from infra.kafka import Delivery
from schemas import AnyEvent, ChatResponseCompletedV1, PermanentError

log = logging.getLogger(__name__)

SENT_TTL_S: Final = 8 * 24 * 3600  # longer than the topic's 7 days of retention


class AnswerSink(Protocol):
    """Sends one completed answer to a chat of the platform."""

    async def deliver(self, chat_id: str, answer: ChatResponseCompletedV1, event: AnyEvent) -> None:
        """Send it; :class:`TransientError` to retry, :class:`PermanentError` to give up."""
        ...


class Answers:
    """The batch handler of a bot's ``ixo.chat.responses`` subscriber."""

    def __init__(self, platform: BotPlatform, sink: AnswerSink, redis: Redis, prefix: str) -> None:
        self._platform = platform
        self._sink = sink
        self._redis = redis
        self._prefix = prefix

    def _mine(self, event: AnyEvent) -> tuple[str, ChatResponseCompletedV1] | None:
        data = event.data
        if not isinstance(data, ChatResponseCompletedV1) or not data.text.strip():
            return None
        parsed = parse_session(data.session_id)
        if parsed is None or parsed[0] != self._platform:
            return None
        return parsed[1], data

    async def __call__(self, batch: Sequence[Delivery]) -> None:
        for delivery in batch:
            mine = self._mine(delivery.event)
            if mine is None:
                continue
            chat_id, answer = mine
            key = f"{self._prefix}sent:{delivery.event.id}"
            async with redis_errors():
                if await self._redis.exists(key):
                    continue
            try:
                await self._sink.deliver(chat_id, answer, delivery.event)
            except PermanentError as exc:
                log.warning(
                    "answer not deliverable",
                    extra={
                        "session_id": answer.session_id,
                        "event_id": delivery.event.id,
                        "error": str(exc),
                    },
                )
            async with redis_errors():
                await self._redis.set(key, b"1", ex=SENT_TTL_S)
