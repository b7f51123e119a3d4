"""``/v1/schedules``: create, list and delete users' scheduled tasks (agent prompts and alert
digests).

A creation or deletion is on Kafka (acks=all) before 202. Bad input gets 422 naming the field
(``loc``) and nothing is published. Reads come from the ``schedules`` projection, so a new
schedule is listed once the projector has applied it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from producers.gateway._deps import ServicesDep
from producers.gateway._metrics import PUBLISHED
from services import ScheduleDraft, schedule_view

TAG = "schedules"


def schedules_router() -> APIRouter:
    """The routes, over the app's services (the app maps InvalidEvent to 422, NotFound to 404,
    TransientError to 503)."""
    router = APIRouter(prefix="/v1/schedules", tags=[TAG])

    @router.post("", status_code=202)
    async def create_schedule(draft: ScheduleDraft, svc: ServicesDep) -> dict[str, Any]:
        """Schedule an agent prompt (``task: prompt`` with ``prompt``) or a digest of the user's
        alerts (``task: alert_digest``), on ``cron`` (5 fields, evaluated in ``timezone``) or
        ``every_s`` (seconds, at least 60, counted from the Unix epoch). The result goes to
        ``channel``/``chat_id``: a Telegram chat or Discord channel (the bot delivers it), or
        a web session (``chat_id`` is the session id to follow over SSE; default
        ``schedule:<schedule_id>``)."""
        receipt = await svc.schedules.create(draft)
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()

    @router.get("")
    async def list_schedules(
        user_id: Annotated[str, Query(min_length=1)], svc: ServicesDep
    ) -> list[dict[str, Any]]:
        """The user's live schedules, oldest first, each with its next run."""
        return [schedule_view(s) for s in await svc.schedules.list(user_id)]

    @router.delete("/{schedule_id}", status_code=202)
    async def delete_schedule(
        schedule_id: str, svc: ServicesDep, user_id: str | None = None
    ) -> dict[str, Any]:
        """Delete a schedule (of ``user_id`` when given); it stops firing."""
        receipt = await svc.schedules.delete(schedule_id, user_id=user_id)
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()

    return router
