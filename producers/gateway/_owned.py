"""Request bodies without their owner: ``user_id`` / ``owner`` come from the caller's identity,
never from the body (decision 0113).

A request model subclasses the service's draft (its fields and checks stay one definition) and
hides the owner field: it is left out of the OpenAPI document, a body that sets it gets 422, and
:func:`owned_by` builds the service's own draft with the principal's user id.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationInfo

from services import Services

D = TypeVar("D", bound=BaseModel)
SCHEDULED_SESSION = "schedule:"
"""The default web session of a schedule's runs: ``schedule:<schedule_id>``."""


def refuse_owner(value: Any, info: ValidationInfo) -> Any:
    """A ``mode="before"`` field validator for the hidden owner field: it only runs when the
    body sets it (defaults are not validated)."""
    msg = f"{info.field_name} comes from your credentials; leave it out of the body"
    raise ValueError(msg)


def owned_by(draft: type[D], body: BaseModel, **owner: str) -> D:
    """The service's draft: the body's fields and the owner (e.g. ``user_id=principal.user_id``)."""
    return draft.model_validate({**body.model_dump(), **owner})


async def session_is_theirs(
    svc: Services, session_id: str, user_id: str, *, claim: bool = False
) -> bool:
    """Whether the chat session is the user's: a schedule's default session
    (``schedule:<id>``) is its schedule's owner's and is never claimed; any other is its
    opener's (with ``claim``, a new one becomes the user's)."""
    if session_id.startswith(SCHEDULED_SESSION):
        schedule = await svc.schedules.get(session_id.removeprefix(SCHEDULED_SESSION))
        return schedule is not None and schedule.user_id == user_id
    if claim:
        return await svc.chat.claim(session_id, user_id)
    return await svc.chat.owns(session_id, user_id)
