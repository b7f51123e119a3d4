"""The web gateway: events, rules, alerts, prices, chat and topics over HTTP (FastAPI).

Routes are thin: every user command and query goes through the service layer
(:class:`services.Services`), built in the lifespan on the gateway's Kafka publisher and MongoDB
database. A request that writes is published to Kafka (acks=all) before 202 is returned; if Kafka
cannot take it the client gets 503 and nothing is half-done. Invalid bodies get 422 naming the
field.

Every route needs a caller (an API token, or the web session) but the few in
:data:`producers.gateway._auth.PUBLIC`; what a caller reads and changes is their own (the user
id comes from their credentials, another user's resource answers 404), and the raw event and
topic routes need the operator scope (decisions 0110-0114).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from infra.kafka import (
    EventPublisher,
    KafkaTickHistory,
    StreamRecord,
    describe_topics,
    make_broker,
    parse_last_event_id,
    stream_records,
)
from infra.mongo import mongo_client, open_database
from infra.redis import redis_client
from infra.settings import Settings
from producers.gateway._auth import OPERATOR, PrincipalDep, guard, install_openapi
from producers.gateway._chain import chain_router
from producers.gateway._deps import ServicesDep
from producers.gateway._documents import documents_router
from producers.gateway._errors import bounded, install_error_handlers, invalid_response
from producers.gateway._knowledge import knowledge_router
from producers.gateway._limits import BodySizeLimit, RateLimiter
from producers.gateway._me import me_router
from producers.gateway._metrics import PUBLISHED, REGISTRY, MetricsMiddleware
from producers.gateway._openapi import BODY, documented, event_request_body, health_responses
from producers.gateway._ops import ops_router
from producers.gateway._owned import owned_by, refuse_owner, session_is_theirs
from producers.gateway._schedules import schedules_router
from producers.gateway._subscriptions import subscriptions_router
from producers.gateway._tokens import tokens_router
from producers.gateway._web import install_web
from schemas import (
    CATALOGUE,
    CHAT_MAX_TEXT,
    ChatChannel,
    Id,
    InvalidEvent,
    IxoError,
    PermanentError,
    Topic,
    TransientError,
    UnknownTopic,
    codec_for,
    loads,
    new_event_id,
)
from services import KnowledgeSearch, NotFound, RuleDraft, Services, rule_view

SOURCE = "/producers/gateway"


class _Gateway:
    """What the routes share: settings, the broker and, once started, the services."""

    def __init__(self, settings: Settings, knowledge: KnowledgeSearch | None = None) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.broker = make_broker(settings, client_id="ixo-gateway")
        self.publisher = EventPublisher(self.broker, settings)
        self.mongo: AsyncMongoClient[dict[str, Any]] | None = None
        self.redis: Redis | None = None

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        self.mongo = mongo_client(self.settings)
        database = await open_database(self.settings, self.mongo)
        self.redis = redis_client(self.settings)
        app.state.services = Services.build(
            self.publisher,
            database,
            self.settings,
            source=SOURCE,
            history=KafkaTickHistory(self.settings),
            redis=self.redis,
            knowledge=self.knowledge,
        )
        await self.broker.connect()
        try:
            yield
        finally:
            await app.state.services.ops.close()  # cancels replays still running
            await self.broker.stop()
            await self.redis.aclose()
            await self.mongo.close()
            if self.knowledge is not None:
                await self.knowledge.close()


def create_app(settings: Settings, *, knowledge: KnowledgeSearch | None = None) -> FastAPI:
    """The gateway app; Kafka and MongoDB are connected in its lifespan. ``knowledge`` is the
    knowledge store's search (closed with the app); without it ``/v1/search`` answers 503."""
    gw = _Gateway(settings, knowledge)

    app = FastAPI(
        title="Impressox gateway",
        version="0.1.0",
        description="Publish events, manage price alerts, read prices and alerts, chat.",
        lifespan=gw.lifespan,
        dependencies=guard(RateLimiter.from_settings(settings)),
    )
    app.state.settings = settings
    app.state.gateway = gw
    app.add_middleware(BodySizeLimit, max_bytes=settings.gateway_max_body_bytes)
    app.add_middleware(MetricsMiddleware)  # outermost: counts the 413s too
    install_error_handlers(app)
    _operations(app, gw)
    _events_and_rules(app, gw)
    _read_models(app, gw)
    _chat_and_streams(app, gw)
    app.include_router(subscriptions_router())
    app.include_router(schedules_router())
    app.include_router(me_router())
    app.include_router(tokens_router())
    app.include_router(documents_router())
    app.include_router(knowledge_router())
    app.include_router(ops_router())
    app.include_router(chain_router())
    install_openapi(app)
    install_web(app)  # last: the API routes match first (decision 0157)
    return app


def _operations(app: FastAPI, gw: _Gateway) -> None:

    @app.exception_handler(InvalidEvent)
    async def on_invalid(_: Request, exc: InvalidEvent) -> JSONResponse:
        return invalid_response(exc)

    @app.exception_handler(NotFound)
    async def on_not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": bounded(str(exc))})

    @app.exception_handler(PermanentError)
    async def on_permanent(_: Request, exc: PermanentError) -> JSONResponse:
        """What the request asks to write can never be written (e.g. too large for Kafka)."""
        return JSONResponse(status_code=422, content={"detail": bounded(str(exc))})

    @app.exception_handler(TransientError)
    async def on_transient(_: Request, exc: TransientError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": bounded(str(exc))})

    @app.get("/healthz", tags=["operations"], responses=health_responses())
    async def healthz() -> JSONResponse:
        checks = {"kafka": False, "mongodb": False}
        try:
            checks["kafka"] = await gw.broker.ping(timeout=2.0)
        except Exception:  # health reports, never raises
            checks["kafka"] = False
        try:
            assert gw.mongo is not None
            await gw.mongo[gw.settings.mongodb_database].command("ping")
            checks["mongodb"] = True
        except Exception:
            checks["mongodb"] = False
        ok = all(checks.values())
        return JSONResponse(
            status_code=200 if ok else 503, content={"status": "ok" if ok else "degraded", **checks}
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=PlainTextResponse,
        responses=documented(public=True, non_json=True),
    )
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _events_and_rules(app: FastAPI, gw: _Gateway) -> None:
    publisher = gw.publisher

    @app.post(
        "/v1/events",
        status_code=202,
        tags=["events"],
        responses=documented(*BODY, 503),
        openapi_extra=event_request_body(),
        dependencies=[OPERATOR],
    )
    async def post_event(request: Request) -> dict[str, Any]:
        """Publish any catalogue event, given as a complete CloudEvent (structured JSON)."""
        raw = await request.body()
        event_type = _peek_type(raw)
        try:
            topic = CATALOGUE.topic_for_type(event_type)
        except UnknownTopic:
            known = ", ".join(sorted(CATALOGUE.event_types))
            msg = f"unknown event type {event_type!r} (known: {known})"
            raise InvalidEvent(msg, kind="unknown_type", field="type") from None
        event = codec_for(topic).decode(raw)
        meta = await publisher.publish(event, topic)
        PUBLISHED.labels(topic.name).inc()
        return {
            "id": event.id,
            "topic": meta.topic,
            "partition": meta.partition,
            "offset": meta.offset,
        }

    @app.post("/v1/rules", status_code=202, tags=["rules"], responses=documented(404, *BODY, 503))
    async def post_rule(
        body: RuleRequest, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Create a price-alert rule (or update it: give the ``rule_id`` of one of yours). The
        symbol is normalised (``BTC`` is ``BTCUSDT``); ``warnings`` says what to check (no price
        feed for the symbol, a duplicate of one of your rules, a channel nobody delivers to)."""
        receipt = await svc.rules.save(owned_by(RuleDraft, body, user_id=principal.user_id))
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()

    @app.post("/v1/rules/backtest", tags=["rules"], responses=documented(404, *BODY, 503))
    async def backtest_rule(
        body: BacktestRequest, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """When one of your saved rules (``rule_id``) or a draft (``rule``) would have fired
        over the tick history between ``since`` and ``until``, and why (the live engine's
        matching code; nothing is published)."""
        rule: RuleDraft | str
        if body.rule_id is not None:
            rule = body.rule_id
        else:
            assert body.rule is not None
            rule = owned_by(RuleDraft, body.rule, user_id=principal.user_id)
        matches = await svc.rules.backtest(
            rule, since=body.since, until=body.until, user_id=principal.user_id
        )
        return {"count": len(matches), "matches": [m.model_dump(mode="json") for m in matches]}

    @app.get("/v1/rules", tags=["rules"], responses=documented(503))
    async def get_rules(svc: ServicesDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """Your rules."""
        return [rule_view(r) for r in await svc.rules.list(principal.user_id)]

    @app.delete(
        "/v1/rules/{rule_id}",
        status_code=202,
        tags=["rules"],
        responses=documented(404, 422, 503),
    )
    async def delete_rule(
        rule_id: str, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Delete one of your rules."""
        receipt = await svc.rules.delete(rule_id, user_id=principal.user_id)
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()


def _read_models(app: FastAPI, gw: _Gateway) -> None:
    @app.get("/v1/alerts", tags=["alerts"], responses=documented(422, 503))
    async def get_alerts(
        svc: ServicesDep,
        principal: PrincipalDep,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Your fired alerts, newest first, each with its explanation."""
        found = await svc.alerts.recent(principal.user_id, limit=limit)
        return [a.model_dump(mode="json", exclude={"order"}) for a in found]

    @app.get("/v1/prices/{symbol}", tags=["prices"], responses=documented(404, 422, 503))
    async def get_price(symbol: str, svc: ServicesDep) -> dict[str, Any]:
        """The latest price of a symbol (``btc`` finds ``BTCUSDT``)."""
        try:
            price = await svc.prices.get(symbol)
        except ValueError as exc:
            raise InvalidEvent(str(exc), kind="invalid_event", field="symbol") from None
        if price is None:
            raise HTTPException(status_code=404, detail=f"no price for {symbol.upper()} yet")
        view: dict[str, Any] = price.model_dump(mode="json", exclude={"order", "id"})
        return view

    @app.get("/v1/topics", tags=["topics"], responses=documented(503), dependencies=[OPERATOR])
    async def get_topics() -> list[dict[str, Any]]:
        try:
            infos = await describe_topics(gw.settings)
        except IxoError as exc:
            raise HTTPException(status_code=503, detail=f"Kafka unavailable: {exc}") from None
        return [
            {
                "name": t.name,
                "partitions": t.partitions,
                "messages": t.messages,
                "end_offsets": t.end_offsets,
                "retention": t.retention,
            }
            for t in infos
        ]


def _peek_type(raw: bytes) -> str:
    try:
        body = loads(raw)
    except ValueError:
        msg = "body is not JSON"
        raise InvalidEvent(msg, kind="not_json") from None
    if not isinstance(body, dict):
        msg = "body must be a CloudEvent JSON object"
        raise InvalidEvent(msg, kind="invalid_event")
    event_type = body.get("type")
    if not isinstance(event_type, str):  # a list or an object is no type (and not hashable)
        msg = "type must be a string: one of the catalogue's event types"
        raise InvalidEvent(msg, kind="unknown_type", field="type")
    return event_type


class RuleRequest(RuleDraft):
    """A rule of the caller's (the user id comes from their credentials)."""

    user_id: SkipJsonSchema[Id] = Field(default="", exclude=True)
    _no_owner = field_validator("user_id", mode="before")(refuse_owner)


class BacktestRequest(BaseModel):
    """A saved rule (``rule_id``) or a draft (``rule``) and the time range of ticks to use."""

    model_config = ConfigDict(extra="forbid")

    rule_id: Id | None = None
    rule: RuleRequest | None = None
    since: AwareDatetime
    until: AwareDatetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _not_before_1970(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.year < 1970:
            msg = "must be 1970 or later (there are no ticks before)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> BacktestRequest:
        if (self.rule_id is None) == (self.rule is None):
            msg = "give exactly one of rule_id (a saved rule) or rule (a draft)"
            raise ValueError(msg)
        return self


class ChatRequest(BaseModel):
    """Your chat message; a new session is opened when ``session_id`` is absent (a session
    is its opener's: another user's answers 404)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=CHAT_MAX_TEXT)
    session_id: Id | None = None
    channel: ChatChannel = "web"


async def catalogue_topic(topic: str, request: Request) -> Topic:
    """A dependency, so an unknown topic is a 404 before a stream starts."""
    settings: Settings = request.app.state.settings
    try:
        return CATALOGUE.topic(topic, settings.topic_prefix)
    except UnknownTopic as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


async def own_session(session_id: str, svc: ServicesDep, principal: PrincipalDep) -> None:
    """A dependency, so another user's session is a 404 before a stream starts."""
    if not await session_is_theirs(svc, session_id, principal.user_id):
        raise HTTPException(status_code=404, detail=f"no chat session {bounded(session_id, 200)}")


def _sse(record: StreamRecord) -> ServerSentEvent:
    return ServerSentEvent(
        raw_data=record.value.decode("utf-8", "replace"),
        id=record.sse_id,
        event=record.event_type,
    )


def _chat_and_streams(app: FastAPI, gw: _Gateway) -> None:
    settings = gw.settings

    @app.post("/v1/chat", status_code=202, tags=["chat"], responses=documented(*BODY, 503))
    async def post_chat(
        body: ChatRequest, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, str]:
        """Publish a chat request; follow the answer on ``GET /v1/chat/{session_id}/events``."""
        session_id = body.session_id or new_event_id()
        if not await session_is_theirs(svc, session_id, principal.user_id, claim=True):
            msg = f"no chat session {session_id}"
            raise NotFound(msg)
        sent = await svc.chat.submit(
            principal.user_id, body.text, session_id=session_id, channel=body.channel
        )
        PUBLISHED.labels("ixo.chat.requests").inc()
        return {"session_id": sent.session_id, "request_id": sent.request_id}

    @app.get(
        "/v1/chat/{session_id}/events",
        response_class=EventSourceResponse,
        tags=["chat"],
        responses=documented(404, 422, non_json=True),
        dependencies=[Depends(own_session)],
    )
    async def chat_events(
        session_id: str,
        svc: ServicesDep,
        since_s: Annotated[float, Query(ge=0, le=7 * 24 * 3600)] = 300.0,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> AsyncIterator[ServerSentEvent]:
        """Your session's response events (CloudEvents) as SSE, from ``since_s`` seconds ago;
        a reconnect with ``Last-Event-ID`` resumes right after that event."""
        async for record in svc.chat.stream(
            session_id, since_s=since_s, resume=parse_last_event_id(last_event_id)
        ):
            yield _sse(record)

    @app.get(
        "/v1/topics/{topic}/tail",
        response_class=EventSourceResponse,
        tags=["topics"],
        responses=documented(404, 422, non_json=True),
        dependencies=[OPERATOR],
    )
    async def tail_topic(
        entry: Annotated[Topic, Depends(catalogue_topic)],
        from_beginning: bool = False,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> AsyncIterator[ServerSentEvent]:
        """Follow a catalogue topic (or its DLQ) as SSE: new records, or all with
        ``from_beginning``."""
        async for record in stream_records(
            settings,
            entry.full_name(settings.topic_prefix),
            resume=parse_last_event_id(last_event_id),
            from_beginning=from_beginning,
        ):
            yield _sse(record)
