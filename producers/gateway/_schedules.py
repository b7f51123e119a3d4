"""``/v1/schedules``: create, list and delete users' scheduled tasks (agent prompts and alert
digests).

A creation or deletion is on Kafka (acks=all) before 202. Bad input gets 422 naming the field
(``loc``) and nothing is published. Reads come from the ``schedules`` projection, so a new
schedule is listed once the projector has applied it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from infra.kafka import EventPublisher
from producers.gateway._errors import invalid_response
from producers.gateway._metrics import PUBLISHED
from producers.schedules import (
    ScheduleDraft,
    ScheduleNotFound,
    ScheduleService,
    schedule_view,
)
from schemas import InvalidEvent

TAG = "schedules"


def schedules_router(publisher: EventPublisher, *, source: str = "/producers/gateway") -> APIRouter:
    """The routes, publishing through ``publisher`` (the gateway's: its broker connects in the
    app's lifespan). Needs Beanie initialised with the projector's ``Schedule`` document and
    the app's handlers for KafkaError/TransientError (503)."""
    service = ScheduleService(publisher, source=source)
    router = APIRouter(prefix="/v1/schedules", tags=[TAG])

    @router.post("", status_code=202, response_model=None)
    async def create_schedule(draft: ScheduleDraft) -> dict[str, Any] | JSONResponse:
        """Schedule an agent prompt (``task: prompt`` with ``prompt``) or a digest of the user's
        alerts (``task: alert_digest``), on ``cron`` (5 fields, evaluated in ``timezone``) or
        ``every_s`` (seconds, at least 60, counted from the Unix epoch). The result goes to
        ``channel``/``chat_id``: a Telegram chat or Discord channel (the bot delivers it), or
        a web session (``chat_id`` is the session id to follow over SSE; default
        ``schedule:<schedule_id>``)."""
        try:
            receipt = await service.create(draft)
        except InvalidEvent as exc:
            return invalid_response(exc)
        except ScheduleNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()

    @router.get("")
    async def list_schedules(
        user_id: Annotated[str, Query(min_length=1)],
    ) -> list[dict[str, Any]]:
        """The user's live schedules, oldest first, each with its next run."""
        return [schedule_view(s) for s in await service.list(user_id)]

    @router.delete("/{schedule_id}", status_code=202)
    async def delete_schedule(schedule_id: str, user_id: str | None = None) -> dict[str, Any]:
        """Delete a schedule (of ``user_id`` when given); it stops firing."""
        try:
            receipt = await service.delete(schedule_id, user_id=user_id)
        except ScheduleNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()

    return router
