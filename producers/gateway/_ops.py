"""The operator routes (issue 14): trace a correlation id, consumer lag, dead letters and their
requeue, projection replays, the AsyncAPI documents.

Every route needs the operator scope (403 for a user's token, 401 without credentials; decision
0165: a user's own chat is followed on its SSE stream, not traced). They call the service layer
(:class:`services.OpsService`), shared with the CLI: ``ixo trace``, ``ixo lag``, ``ixo dlq``,
``ixo replay``, ``ixo schemas export``. Inputs are bounded (ids, limits) and a bad one is a 422
naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from producers.gateway._auth import OPERATOR, OperatorDep
from producers.gateway._deps import ServicesDep
from producers.gateway._openapi import BODY, documented
from services import MAX_DLQ_RECORDS, MAX_REQUEUE, NotFound, ReplayBusy

SOURCE = "/producers/gateway/ops"
MAX_ID = 200
MAX_TRACE_EVENTS = 5000

CorrelationId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID, description="A CloudEvents correlationid")
]
TopicName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=300,
        description="A dead-letter topic (ixo.market.ticks.dlq) or the topic it belongs to",
    ),
]


class RequeueRequest(BaseModel):
    """What to requeue: a dry run first shows what would be republished."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(description="true: send nothing, list what would be requeued")
    limit: int | None = Field(
        default=None, ge=1, le=MAX_REQUEUE, description="At most this many dead letters"
    )


class ReplayRequest(BaseModel):
    """How to replay: from the beginning into a fresh collection (the default), or a repair
    since a time onto the live collection."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = None

    @field_validator("since")
    @classmethod
    def _not_before_1970(cls, value: AwareDatetime | None) -> AwareDatetime | None:
        if value is not None and value.year < 1970:
            msg = "must be 1970 or later"
            raise ValueError(msg)
        return value


def ops_router() -> APIRouter:
    """The routes, over the app's services (the app maps NotFound to 404 and TransientError
    to 503)."""
    router = APIRouter(tags=["operations"], dependencies=[OPERATOR])

    @router.get("/v1/trace/{correlation_id}", responses=documented(404, 422, 503))
    async def trace(
        correlation_id: CorrelationId,
        svc: ServicesDep,
        limit: Annotated[int, Query(ge=1, le=MAX_TRACE_EVENTS)] = 1000,
    ) -> dict[str, Any]:
        """Every event with this correlation id, across the catalogue topics, in time order
        (from the projector's trace index): topic, partition, offset, type, id, subject,
        source. An id nothing carries gives an empty list."""
        return (await svc.ops.trace(correlation_id, limit=limit)).as_dict()

    @router.get("/v1/ops/lag", responses=documented(404, 422, 503))
    async def lag(
        svc: ServicesDep,
        group: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
    ) -> list[dict[str, Any]]:
        """Each consumer group's committed offset, end offset and lag per partition, and the
        lag in time (``lag_s``: age of the oldest unprocessed record; null when it is gone)."""
        return [row.as_dict() for row in await svc.ops.lag(group)]

    @router.get("/v1/ops/dlq", responses=documented(503))
    async def dead_letters(svc: ServicesDep) -> list[dict[str, Any]]:
        """The dead-letter topics with their record counts and their records grouped by error
        type (count, consumer groups, a few examples each)."""
        return await svc.ops.dead_letters()

    @router.get("/v1/ops/dlq/{topic}/records", responses=documented(404, 422, 503))
    async def dead_letter_records(
        topic: TopicName,
        svc: ServicesDep,
        limit: Annotated[int, Query(ge=1, le=MAX_DLQ_RECORDS)] = 100,
    ) -> list[dict[str, Any]]:
        """The records of a dead-letter topic, oldest first: error, where each came from, its
        headers and value (as ``ixo dlq show --json``)."""
        return [r.as_dict() for r in await svc.ops.dead_letter_records(topic, limit=limit)]

    @router.post("/v1/ops/dlq/{topic}/requeue", responses=documented(404, *BODY, 503))
    async def requeue(
        topic: TopicName,
        body: Annotated[RequeueRequest, Body()],
        svc: ServicesDep,
        principal: OperatorDep,
    ) -> dict[str, Any]:
        """Publish dead letters again to their source topic, each for the consumer group that
        failed it (as ``ixo dlq requeue --json``). Each dead letter is republished once however
        often this runs: every requeue is recorded on ``ixo.dlq.requeues`` with who did it."""
        result = await svc.ops.requeue(
            topic,
            dry_run=body.dry_run,
            limit=body.limit,
            by=f"gateway:{principal.user_id}",
            source=SOURCE,
        )
        return result.as_dict()

    @router.post(
        "/v1/ops/replay/{projection}", status_code=202, responses=documented(404, 409, *BODY, 503)
    )
    async def start_replay(
        projection: Annotated[str, Path(min_length=1, max_length=100)],
        svc: ServicesDep,
        principal: OperatorDep,
        body: Annotated[ReplayRequest | None, Body()] = None,
    ) -> dict[str, Any]:
        """Rebuild a projection's read model from its topic in the background (one replay at
        a time per projection); follow it on ``GET /v1/ops/replay/{replay_id}``."""
        since = body.since if body is not None else None
        try:
            job = svc.ops.replays.start(projection, since=since, by=principal.user_id)
        except ReplayBusy as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        return job.as_dict()

    @router.get("/v1/ops/replay/{replay_id}", responses=documented(404, 422, 503))
    async def replay_progress(
        replay_id: Annotated[str, Path(min_length=1, max_length=100)], svc: ServicesDep
    ) -> dict[str, Any]:
        """A replay's progress: ``state`` (running, done, failed), ``records`` of ``total``,
        when it started and finished, its error if it failed."""
        job = svc.ops.replays.get(replay_id)
        if job is None:
            msg = f"no replay {replay_id} (this gateway remembers its last replays only)"
            raise NotFound(msg)
        return job.as_dict()

    @router.get("/asyncapi", responses=documented(503))
    async def asyncapi(svc: ServicesDep) -> dict[str, Any]:
        """The AsyncAPI 3 document of every consumer app (generated by FastStream), merged;
        ``x-components`` lists each app's channels."""
        return await svc.ops.asyncapi()

    @router.get("/asyncapi/{component}", responses=documented(404, 422, 503))
    async def asyncapi_component(
        component: Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[a-z_\-]+$")],
        svc: ServicesDep,
    ) -> dict[str, Any]:
        """One consumer app's AsyncAPI document (``projector``, ``rule-engine``...)."""
        return await svc.ops.asyncapi(component)

    return router
