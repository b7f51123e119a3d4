"""FastStream wiring of the orchestrator: consumes ``ixo.chat.requests``, runs the agent, and
publishes ``ixo.chat.response.delta.v1`` while the model streams, ``ixo.agent.tool.called.v1`` per
tool call and ``ixo.chat.response.completed.v1`` at the end.

Idempotent: response event ids derive from the request id (a re-streamed step re-uses them),
a rule a tool creates has an id derived from the request id and call index, and a request the
agent already answered is not answered again (its checkpoint says so).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from faststream import FastStream
from redis.asyncio import Redis

from agent import Agent, AgentFactory, LLMEndpoint, Message, Ports, RuleView
from consumers.projector import Conversation, Price
from infra.kafka import Delivery, EventPublisher, make_broker, subscribe
from infra.mongo import init_read_models, mongo_client
from infra.settings import Settings
from producers.rules import RuleNotFound, RuleService
from schemas import (
    ALERT_RULES,
    CHAT_REQUESTS,
    CHAT_RESPONSES,
    AgentToolCalledV1,
    AlertRuleCreatedV1,
    AnyEvent,
    ChatMessageReceivedV1,
    ChatResponseCompletedV1,
    ChatResponseDeltaV1,
    CloudEvent,
    ToolCall,
)

SOURCE = "/consumers/orchestrator"
GROUP = "ixo.orchestrator"
AGENT = "market-assistant"
HISTORY_TURNS = 10
NAMESPACE = uuid.UUID("5f0b7a1e-3c7d-4b8e-9a51-6d2c1e0f9a77")


def derived_id(request_id: str, what: str) -> str:
    """A stable event id for something the request produced (``delta:3``, ``completed``...)."""
    return str(uuid.uuid5(NAMESPACE, f"{request_id}:{what}"))


class KafkaSink:
    """The agent's ResponseSink: each method returns once Kafka acknowledged the event."""

    def __init__(self, publisher: EventPublisher, request: AnyEvent) -> None:
        self._publisher = publisher
        self._request = request
        data = request.data
        assert isinstance(data, ChatMessageReceivedV1)
        self._data = data

    async def _publish(self, payload: Any, what: str) -> None:
        event = CloudEvent.new(
            payload,
            source=SOURCE,
            causation=self._request,
            event_id=derived_id(self._request.id, what),
        )
        await self._publisher.publish(event, CHAT_RESPONSES)

    async def delta(self, text: str, seq: int) -> None:
        data = ChatResponseDeltaV1(
            session_id=self._data.session_id, request_id=self._request.id, seq=seq, text=text
        )
        await self._publish(data, f"delta:{seq}")

    async def tool_called(self, call: ToolCall) -> None:
        data = AgentToolCalledV1(
            session_id=self._data.session_id, request_id=self._request.id, call=call
        )
        await self._publish(data, f"tool:{call.call_id}")

    async def completed(self, text: str, tool_calls: Sequence[ToolCall]) -> None:
        data = ChatResponseCompletedV1(
            session_id=self._data.session_id,
            request_id=self._request.id,
            text=text,
            tool_calls=tuple(tool_calls),
            user_id=self._data.user_id,
            prompt=self._data.text,
        )
        await self._publish(data, "completed")


class ReadModelPrices:
    """PricePort over the ``prices`` projection."""

    async def get_price(self, symbol: str) -> tuple[Decimal, datetime] | None:
        price = await Price.get(symbol)
        return None if price is None else (Decimal(price.price), price.ts)


class EventRules:
    """RulesPort: writes are rule events (ids derived from the idempotency key); reads come from
    the ``rules`` projection."""

    def __init__(self, publisher: EventPublisher, request: AnyEvent) -> None:
        self._publisher = publisher
        self._request = request
        self._service = RuleService(publisher, source=SOURCE)

    async def create_rule(
        self, rule: AlertRuleCreatedV1, idempotency_key: str
    ) -> AlertRuleCreatedV1:
        event = CloudEvent.new(
            rule,
            source=SOURCE,
            causation=self._request,
            event_id=str(uuid.uuid5(NAMESPACE, idempotency_key)),
        )
        await self._publisher.publish(event, ALERT_RULES)
        return rule

    async def list_rules(self, user_id: str) -> Sequence[RuleView]:
        rules = await self._service.list(user_id)
        return [RuleView.model_validate(r.model_dump()) for r in rules]

    async def delete_rule(self, user_id: str, rule_id: str) -> bool:
        try:
            await self._service.delete(rule_id, user_id=user_id, correlation_id=None)
        except RuleNotFound:
            return False
        return True


async def history(session_id: str) -> list[Message]:
    """The session's last answered turns, oldest first, from the ``conversations`` projection."""
    turns = await Conversation.find(Conversation.session_id == session_id).to_list()
    turns.sort(key=lambda t: t.answered_at)
    out: list[Message] = []
    for turn in turns[-HISTORY_TURNS:]:
        if turn.prompt:
            out.append(Message(role="user", content=turn.prompt))
        out.append(Message(role="assistant", content=turn.answer))
    return out


class Orchestrator:
    """Runs the agent for each request: sessions in parallel, one session's requests in order."""

    def __init__(self, agent: Agent, publisher: EventPublisher) -> None:
        self.agent = agent
        self.publisher = publisher

    async def handle(self, batch: Sequence[Delivery]) -> None:
        by_session: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in batch:
            by_session[delivery.event.subject].append(delivery)
        await asyncio.gather(*(self._session(items) for items in by_session.values()))

    async def _session(self, items: Sequence[Delivery]) -> None:
        for delivery in items:
            request = delivery.event
            data = request.data
            assert isinstance(data, ChatMessageReceivedV1)
            ports = Ports(prices=ReadModelPrices(), rules=EventRules(self.publisher, request))
            await self.agent.answer(
                data,
                request_id=request.id,
                sink=KafkaSink(self.publisher, request),
                ports=ports,
                history=await history(data.session_id),
            )


def build_app(settings: Settings) -> FastStream:
    """The orchestrator app (``ixo run orchestrator``)."""
    broker = make_broker(settings, client_id="ixo-orchestrator")
    publisher = EventPublisher(broker, settings)
    holder: dict[str, Any] = {}

    async def handle(batch: Sequence[Delivery]) -> None:
        await holder["orchestrator"].handle(batch)

    subscribe(broker, settings, CHAT_REQUESTS, group=GROUP, handler=handle, max_records=50)
    app = FastStream(broker)

    @app.on_startup
    async def _connect() -> None:
        client = mongo_client(settings)
        db = await init_read_models(settings, client)
        redis: Redis = Redis.from_url(settings.redis_url)
        factory = AgentFactory(redis=redis, mongo=db, key_prefix=settings.topic_prefix)
        agent = factory.build(
            AGENT,
            llm=LLMEndpoint(
                base_url=settings.llm_base_url,
                api_key=settings.llm_api_key,
                model=settings.llm_model,
            ),
        )
        holder.update(orchestrator=Orchestrator(agent, publisher), mongo=client, redis=redis)

    @app.after_shutdown
    async def _close() -> None:
        orchestrator = holder.get("orchestrator")
        if orchestrator is not None:
            await orchestrator.agent.aclose()
        if "redis" in holder:
            await holder["redis"].aclose()
        if "mongo" in holder:
            await holder["mongo"].close()

    return app
