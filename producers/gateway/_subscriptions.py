"""``/v1/subscriptions``: register, list and delete the caller's signed-webhook subscriptions.

A creation is on Kafka (acks=all) before 202, which returns the subscription id and its secret
(shown this once; ``GET`` never returns secrets). Reads come from the ``subscriptions``
projection, so a new subscription is listed once the projector has applied it. The owner is the
caller (from their credentials); another user's subscription answers 404; ``all_users`` (every
user's events) needs the operator scope.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from producers.gateway._auth import PrincipalDep
from producers.gateway._deps import ServicesDep
from producers.gateway._openapi import BODY, documented
from producers.gateway._owned import owned_by, refuse_owner
from schemas import Id
from services import SubscriptionDraft, subscription_view

TAG = "subscriptions"


class SubscriptionRequest(SubscriptionDraft):
    """A subscription of the caller's (the owner comes from their credentials)."""

    owner: SkipJsonSchema[Id] = Field(default="", exclude=True)
    _no_owner = field_validator("owner", mode="before")(refuse_owner)


def subscriptions_router() -> APIRouter:
    """The routes, over the app's services (the app maps InvalidEvent to 422, NotFound to 404,
    TransientError to 503)."""
    router = APIRouter(prefix="/v1/subscriptions", tags=[TAG])

    @router.post("", status_code=202, responses=documented(*BODY, 503))
    async def create_subscription(
        body: SubscriptionRequest, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Subscribe ``url`` to ``event_types`` (your events; every user's with ``all_users``,
        for operators); events are POSTed as CloudEvents, signed with
        ``X-Ixo-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. The
        secret is generated when not given, and returned only in this response."""
        if body.all_users and not principal.is_operator:
            raise HTTPException(status_code=403, detail="all_users needs the operator scope")
        draft = owned_by(SubscriptionDraft, body, owner=principal.user_id)
        receipt = await svc.subscriptions.create(draft, operator=principal.is_operator)
        return receipt.as_dict()

    @router.get("", responses=documented(503))
    async def list_subscriptions(svc: ServicesDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """Your live subscriptions (never their secrets)."""
        return [subscription_view(s) for s in await svc.subscriptions.list(principal.user_id)]

    @router.delete("/{subscription_id}", status_code=202, responses=documented(404, 422, 503))
    async def delete_subscription(
        subscription_id: str, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Delete one of your subscriptions."""
        receipt = await svc.subscriptions.delete(subscription_id, owner=principal.user_id)
        return receipt.as_dict()

    return router
