"""FastStream wiring of the orchestrator: consumes ``ixo.chat.requests``, runs the agent, and
publishes ``ixo.chat.response.delta.v1`` while the model streams, ``ixo.agent.tool.called.v1`` per
tool call and ``ixo.chat.response.completed.v1`` at the end.

Idempotent: response event ids derive from the request id (a re-streamed step re-uses them),
a rule a tool creates has an id derived from the request id and call index, and a request the
agent already answered is not answered again (its checkpoint says so).

The agent is the one ``IXO_AGENT_CONFIG`` names (the bundled ``market-assistant`` by default),
with the model options and checkpoint store the settings give (:func:`build_agent`). AsyncAPI:
``faststream docs gen --factory consumers.orchestrator.app:build_app``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from faststream import FastStream
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from agent import (
    CHAIN_PORT,
    KNOWLEDGE_PORT,
    Agent,
    AgentFactory,
    AlertView,
    ChainLogView,
    KnowledgeHitView,
    LLMEndpoint,
    Message,
    ModelRejected,
    ModelUnavailable,
    OnchainAlertView,
    Ports,
    PostView,
    RuleView,
    ToolError,
    load_config,
)
from infra.kafka import Delivery, EventPublisher, make_broker, subscribe
from infra.mongo import mongo_client, open_database
from infra.redis import redis_client
from infra.settings import Settings, get_settings
from schemas import (
    CHAT_REQUESTS,
    CHAT_RESPONSES,
    AgentToolCalledV1,
    AlertRuleCreatedV1,
    AnyEvent,
    ChatMessageReceivedV1,
    ChatResponseCompletedV1,
    ChatResponseDeltaV1,
    CloudEvent,
    InvalidEvent,
    ToolCall,
)
from services import (
    AlertService,
    ChainLogService,
    ChainService,
    KnowledgeSearch,
    KnowledgeService,
    KnowledgeUnavailable,
    PriceService,
    RuleDraft,
    RuleNotFound,
    RuleService,
    Services,
    citation,
    connect_chain,
    saved_payload,
)

SOURCE = "/consumers/orchestrator"
GROUP = "ixo.orchestrator"
HISTORY_TURNS = 10
NAMESPACE = uuid.UUID("5f0b7a1e-3c7d-4b8e-9a51-6d2c1e0f9a77")

log = logging.getLogger(__name__)


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
        self.degraded: Literal["offline", "error"] | None = None
        """Marks the completion when the model could not answer (see :class:`OfflineSink`)."""

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
            degraded=self.degraded,
        )
        await self._publish(data, "completed")


OFFLINE_NOTE = "(The language model is not answering right now; this is the offline assistant.)"
ERROR_ANSWER = (
    "Sorry, I cannot answer right now: the language model is not answering. "
    "Please try again in a minute."
)


class OfflineSink:
    """The sink of the offline assistant standing in for the model: its answer is one
    completion (marked ``degraded=offline``, with a note), its tool calls are reported, and its
    deltas are not streamed (the model's partial deltas, if any, are superseded by it)."""

    def __init__(self, sink: KafkaSink) -> None:
        self._sink = sink

    async def delta(self, text: str, seq: int) -> None:
        return None

    async def tool_called(self, call: ToolCall) -> None:
        await self._sink.tool_called(call)

    async def completed(self, text: str, tool_calls: Sequence[ToolCall]) -> None:
        self._sink.degraded = "offline"
        await self._sink.completed(f"{OFFLINE_NOTE}\n\n{text}", tool_calls)


class ServicePrices:
    """PricePort over the service layer's prices (the ``prices`` read model)."""

    def __init__(self, prices: PriceService) -> None:
        self._prices = prices

    async def get_price(self, symbol: str) -> tuple[Decimal, datetime] | None:
        price = await self._prices.get(symbol)
        return None if price is None else (Decimal(price.price), price.ts)


class ServiceAlerts:
    """AlertsPort over the service layer's fired alerts (what the chat ``alerts`` command shows
    besides the rules, like the bots' ``/alerts``)."""

    def __init__(self, alerts: AlertService) -> None:
        self._alerts = alerts

    async def recent_alerts(self, user_id: str, limit: int) -> Sequence[AlertView]:
        found = await self._alerts.recent(user_id, limit=limit)
        return [AlertView.model_validate(a.model_dump()) for a in found]


class ServiceRules:
    """RulesPort over the service layer's :class:`services.RuleService`: the same route (symbol
    normalisation, checks, events) as every other client. A tool call's rule has an id and an
    event id derived from its idempotency key, so a retried call publishes nothing new."""

    def __init__(self, rules: RuleService, request: AnyEvent) -> None:
        self._request = request
        self._service = rules

    async def create_rule(
        self, rule: AlertRuleCreatedV1, idempotency_key: str
    ) -> AlertRuleCreatedV1:
        existing = await self._service.get(rule.rule_id)
        if existing is not None and existing.user_id == rule.user_id:
            return saved_payload(existing)  # created by this call before a crash
        draft = RuleDraft.model_validate(rule.model_dump())
        receipt = await self._service.save(
            draft,
            causation=self._request,
            event_id=str(uuid.uuid5(NAMESPACE, idempotency_key)),
        )
        created = receipt.event.data
        assert isinstance(created, AlertRuleCreatedV1)
        return created

    async def list_rules(self, user_id: str) -> Sequence[RuleView]:
        rules = await self._service.list(user_id)
        return [RuleView.model_validate(r.model_dump()) for r in rules]

    async def delete_rule(self, user_id: str, rule_id: str) -> bool:
        try:
            await self._service.delete(
                rule_id,
                user_id=user_id,
                correlation_id=self._request.correlationid or self._request.id,
            )
        except RuleNotFound:
            return False
        return True


class ServiceKnowledge:
    """KnowledgePort over the service layer's :class:`services.KnowledgeService`: a search is
    the asking user's (posts and their own documents), each hit with its citation; a store that
    does not answer, or an argument the service refuses, is the tool's error for the model."""

    def __init__(self, knowledge: KnowledgeService) -> None:
        self._knowledge = knowledge

    async def search(
        self,
        user_id: str,
        query: str,
        *,
        k: int,
        source: Literal["post", "document"] | None = None,
        since: datetime | None = None,
        symbol: str | None = None,
    ) -> Sequence[KnowledgeHitView]:
        try:
            hits = await self._knowledge.search(
                query, owner=user_id, k=k, source=source, since=since, symbol=symbol
            )
        except (KnowledgeUnavailable, InvalidEvent) as exc:
            raise ToolError(str(exc)) from None
        return [
            KnowledgeHitView.model_validate({**hit.model_dump(), "citation": citation(hit)})
            for hit in hits
        ]

    async def recent_posts(
        self, symbol_or_query: str, *, since: datetime | None = None, limit: int
    ) -> Sequence[PostView]:
        try:
            posts = await self._knowledge.recent_posts(symbol_or_query, since=since, limit=limit)
        except InvalidEvent as exc:
            raise ToolError(str(exc)) from None
        return [PostView.model_validate(p.model_dump()) for p in posts]


class ServiceChain:
    """The chain port's shared half: the :class:`services.ChainService` of the settings,
    connected on first use (and again while no AlertRegistry is deployed, so ``ixo up``
    deploying it after the orchestrator started is picked up), and the ``chain_logs`` reads."""

    def __init__(
        self, settings: Settings, services: Services, publisher: EventPublisher, redis: Redis
    ) -> None:
        self._settings = settings
        self._services = services
        self._publisher = publisher
        self._redis = redis
        self._chain: ChainService | None = None
        self._lock = asyncio.Lock()

    async def service(self) -> ChainService:
        async with self._lock:
            if self._chain is None or self._chain.registry is None:
                if self._chain is not None:
                    await self._chain.aclose()
                self._chain = await connect_chain(
                    self._settings,
                    self._publisher,
                    self._services.rules,
                    self._redis,
                    source=SOURCE,
                )
            return self._chain

    def bound(self, request: AnyEvent) -> RequestChain:
        """The port of one request's tools (its events are caused by the request)."""
        return RequestChain(self, request)

    async def events(
        self, address: str, *, event: str | None, since_block: int | None, limit: int
    ) -> Sequence[ChainLogView]:
        try:
            found = await ChainLogService(self._services.reads).logs(
                {"address": address, "event": event, "since_block": since_block, "limit": limit}
            )
        except InvalidEvent as exc:
            raise ToolError(str(exc)) from None
        return [ChainLogView.model_validate(log.model_dump()) for log in found]

    async def aclose(self) -> None:
        if self._chain is not None:
            await self._chain.aclose()


class RequestChain:
    """ChainPort over :class:`ServiceChain` for one request: a refusal the model can act on
    (bad arguments, no registry, a revert) is the tool's error; a node or Redis that does not
    answer is transient (the request is retried, and the same key finds the same transaction)."""

    def __init__(self, shared: ServiceChain, request: AnyEvent) -> None:
        self._shared = shared
        self._request = request

    async def register_alert(
        self,
        user_id: str,
        symbol: str,
        condition: str,
        threshold: Decimal,
        idempotency_key: str,
    ) -> OnchainAlertView:
        chain = await self._shared.service()
        try:
            alert = await chain.register_alert(
                user_id,
                {"symbol": symbol, "condition": condition, "threshold": threshold},
                idempotency_key=idempotency_key,
                causation=self._request,
            )
        except InvalidEvent as exc:
            raise ToolError(str(exc)) from None
        return OnchainAlertView.model_validate(alert.model_dump())

    async def events(
        self, address: str, *, event: str | None, since_block: int | None, limit: int
    ) -> Sequence[ChainLogView]:
        return await self._shared.events(address, event=event, since_block=since_block, limit=limit)


def as_messages(turns: Sequence[Any]) -> list[Message]:
    """Answered turns (oldest first) as the user/assistant messages the agent is given."""
    out: list[Message] = []
    for turn in turns:
        if turn.prompt:
            out.append(Message(role="user", content=turn.prompt))
        out.append(Message(role="assistant", content=turn.answer))
    return out


class Orchestrator:
    """Runs the agent for each request: sessions in parallel, one session's requests in order.

    Every request gets its answer within ``deadline_s`` (plus the fallback's own bound): when
    the model is unreachable or too slow, ``fallback`` (the offline assistant) answers, or an
    error answer says so, and the request is done. A model outage never holds a request, its
    session or the partition behind it for longer (decision 0089).
    """

    def __init__(
        self,
        agent: Agent,
        publisher: EventPublisher,
        services: Services,
        *,
        fallback: Agent | None = None,
        deadline_s: float = 30.0,
        chain: ServiceChain | None = None,
    ) -> None:
        self.agent = agent
        self.chain = chain
        self.fallback = fallback
        self.deadline_s = deadline_s
        self.publisher = publisher
        self.services = services
        self.prices = ServicePrices(services.prices)
        self.alerts = ServiceAlerts(services.alerts)
        self.knowledge = ServiceKnowledge(services.knowledge)

    def rules(self, request: AnyEvent) -> ServiceRules:
        """The rule commands of one request's tools (the one place they are built)."""
        return ServiceRules(self.services.rules, request)

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
            extras: dict[str, Any] = {KNOWLEDGE_PORT: self.knowledge}
            if self.chain is not None:
                extras[CHAIN_PORT] = self.chain.bound(request)
            ports = Ports(
                prices=self.prices,
                rules=self.rules(request),
                alerts=self.alerts,
                extras=extras,
            )
            turns = await self.services.chat.history(data.session_id, turns=HISTORY_TURNS)
            await self._answer(request, data, ports, as_messages(turns))

    async def _answer(
        self,
        request: AnyEvent,
        data: ChatMessageReceivedV1,
        ports: Ports,
        history: Sequence[Message],
    ) -> None:
        sink = KafkaSink(self.publisher, request)
        try:
            async with asyncio.timeout(self.deadline_s):
                await self.agent.answer(
                    data, request_id=request.id, sink=sink, ports=ports, history=history
                )
        except TimeoutError:
            why = f"no answer from the model within {self.deadline_s:g}s"
        except (ModelUnavailable, ModelRejected) as exc:  # down, or refusing us (a bad key)
            why = str(exc)
        else:
            return
        log.warning(
            "the model did not answer; %s",
            "the offline assistant answers" if self.fallback else "answering with an error",
            extra={"request_id": request.id, "session_id": data.session_id, "why": why},
        )
        if self.fallback is not None:
            try:
                async with asyncio.timeout(self.deadline_s):
                    await self.fallback.answer(
                        data,
                        request_id=f"{request.id}:offline",
                        sink=OfflineSink(sink),
                        ports=ports,
                        history=history,
                    )
            except (TimeoutError, ModelUnavailable):
                log.exception("the offline assistant failed too", extra={"request_id": request.id})
            else:
                return
        sink.degraded = "error"
        await sink.completed(ERROR_ANSWER, ())


def build_agent(
    settings: Settings,
    *,
    redis: Redis,
    mongo: AsyncDatabase[dict[str, Any]],
    offline: bool = False,
) -> Agent:
    """The agent ``IXO_AGENT_CONFIG`` names (a bundled name or a YAML path), with the model
    options (``IXO_LLM_STREAM``, ``IXO_LLM_REQUEST_TIMEOUT_S``, ``IXO_LLM_MAX_TOOL_ROUNDS``) and
    the checkpoint store (``IXO_AGENT_CHECKPOINTS``) the settings set instead of the
    configuration's; the model is used when ``IXO_LLM_*`` names one. Raises
    ``AgentConfigError`` for a configuration that cannot be read or is invalid. ``offline``:
    the configuration's offline graph, without a model (the fallback when the model fails)."""
    config = load_config(settings.agent_config).override(
        stream=settings.llm_stream,
        request_timeout_s=settings.llm_request_timeout_s,
        max_tool_rounds=settings.llm_max_tool_rounds,
        checkpoints=settings.agent_checkpoints,
    )
    factory = AgentFactory(redis=redis, mongo=mongo, key_prefix=settings.topic_prefix)
    if offline:  # the configuration's offline graph (the command planner), no model
        return factory.build(config)
    endpoint = LLMEndpoint(
        base_url=settings.llm_base_url, api_key=settings.llm_api_key, model=settings.llm_model
    )
    return factory.build(config, llm=endpoint)


def build_app(
    settings: Settings | None = None, *, knowledge: KnowledgeSearch | None = None
) -> FastStream:
    """The orchestrator app (``ixo run orchestrator``); ``settings`` default to the
    environment's; ``knowledge`` is the knowledge store's search for the agent's
    ``search_knowledge`` tool (its opener closes it); by default the embedder's
    (:func:`consumers.embedder.app.open_knowledge_search`), opened here and closed at shutdown.

    Building reads the agent's configuration (an invalid one fails here) and contacts nothing:
    the Redis and MongoDB clients connect on first use; MongoDB is checked at startup, before
    the broker starts.
    """
    settings = settings or get_settings()
    broker = make_broker(settings, client_id="ixo-orchestrator")
    publisher = EventPublisher(broker, settings)
    mongo = mongo_client(settings)
    database = mongo[settings.mongodb_database]
    redis = redis_client(settings)
    opened: KnowledgeSearch | None = None
    if knowledge is None:
        # Imported here: the embedder's wiring loads qdrant-client (seconds), only when run.
        from consumers.embedder.app import open_knowledge_search

        knowledge = opened = open_knowledge_search(settings)
    services = Services.build(publisher, database, settings, source=SOURCE, knowledge=knowledge)
    agent = build_agent(settings, redis=redis, mongo=database)
    fallback = None
    if agent.model is not None and settings.chat_offline_fallback:
        fallback = build_agent(settings, redis=redis, mongo=database, offline=True)
    chain = ServiceChain(settings, services, publisher, redis)
    orchestrator = Orchestrator(
        agent,
        publisher,
        services,
        fallback=fallback,
        deadline_s=settings.chat_deadline_s,
        chain=chain,
    )
    subscribe(
        broker, settings, CHAT_REQUESTS, group=GROUP, handler=orchestrator.handle, max_records=50
    )

    async def check_database() -> None:
        await open_database(settings, mongo)

    async def close() -> None:
        await chain.aclose()
        await agent.aclose()
        await redis.aclose()
        await mongo.close()
        if opened is not None:
            await opened.close()

    return FastStream(broker, on_startup=[check_database], after_shutdown=[close])
