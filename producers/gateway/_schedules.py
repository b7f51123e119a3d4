"""``/v1/schedules``: create, list and delete the caller's scheduled tasks (agent prompts and
alert digests).

A creation or deletion is on Kafka (acks=all) before 202. Bad input gets 422 naming the field
(``loc``) and nothing is published. Reads come from the ``schedules`` projection, so a new
schedule is listed once the projector has applied it. The schedules are the caller's own: the
user id comes from their credentials, and another user's schedule answers 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from producers.gateway._auth import PrincipalDep
from producers.gateway._deps import ServicesDep
from producers.gateway._metrics import PUBLISHED
from producers.gateway._openapi import BODY, documented
from producers.gateway._owned import owned_by, refuse_owner, session_is_theirs
from schemas import Id
from services import NotFound, ScheduleDraft, schedule_view

TAG = "schedules"


class ScheduleRequest(ScheduleDraft):
    """A schedule of the caller's (the user id comes from their credentials)."""

    user_id: SkipJsonSchema[Id] = Field(default="", exclude=True)
    _no_owner = field_validator("user_id", mode="before")(refuse_owner)


def schedules_router() -> APIRouter:
    """The routes, over the app's services (the app maps InvalidEvent to 422, NotFound to 404,
    TransientError to 503)."""
    router = APIRouter(prefix="/v1/schedules", tags=[TAG])

    @router.post("", status_code=202, responses=documented(404, *BODY, 503))
    async def create_schedule(
        body: ScheduleRequest, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Schedule an agent prompt (``task: prompt`` with ``prompt``) or a digest of the user's
        alerts (``task: alert_digest``), on ``cron`` (5 fields, evaluated in ``timezone``) or
        ``every_s`` (seconds, at least 60, counted from the Unix epoch). The result goes to
        ``channel``/``chat_id``: a Telegram chat or Discord channel (the bot delivers it), or
        a web session (``chat_id`` is the session id to follow over SSE, one of yours or a new
        one; default ``schedule:<schedule_id>``)."""
        draft = owned_by(ScheduleDraft, body, user_id=principal.user_id)
        web_session = draft.chat_id if draft.channel == "web" else None
        if web_session is not None and not await session_is_theirs(
            svc, web_session, principal.user_id, claim=True
        ):
            msg = f"no chat session {web_session}"
            raise NotFound(msg)
        receipt = await svc.schedules.create(draft)
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()

    @router.get("", responses=documented(503))
    async def list_schedules(svc: ServicesDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """Your live schedules, oldest first, each with its next run."""
        return [schedule_view(s) for s in await svc.schedules.list(principal.user_id)]

    @router.delete("/{schedule_id}", status_code=202, responses=documented(404, 422, 503))
    async def delete_schedule(
        schedule_id: str, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Delete one of your schedules; it stops firing."""
        receipt = await svc.schedules.delete(schedule_id, user_id=principal.user_id)
        PUBLISHED.labels(receipt.topic).inc()
        return receipt.as_dict()

    return router
