"""``/v1/subscriptions``: register, list and delete signed-webhook subscriptions.

A creation is on Kafka (acks=all) before 202, which returns the subscription id and its secret
(shown this once; ``GET`` never returns secrets). Reads come from the ``subscriptions``
projection, so a new subscription is listed once the projector has applied it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from producers.gateway._deps import ServicesDep
from services import SubscriptionDraft, subscription_view

TAG = "subscriptions"


def subscriptions_router() -> APIRouter:
    """The routes, over the app's services (the app maps InvalidEvent to 422, NotFound to 404,
    TransientError to 503)."""
    router = APIRouter(prefix="/v1/subscriptions", tags=[TAG])

    @router.post("", status_code=202)
    async def create_subscription(draft: SubscriptionDraft, svc: ServicesDep) -> dict[str, Any]:
        """Subscribe ``url`` to ``event_types``; events are POSTed as CloudEvents, signed with
        ``X-Ixo-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. The
        secret is generated when not given, and returned only in this response."""
        receipt = await svc.subscriptions.create(draft)
        return receipt.as_dict()

    @router.get("")
    async def list_subscriptions(
        owner: Annotated[str, Query(min_length=1)], svc: ServicesDep
    ) -> list[dict[str, Any]]:
        """The owner's live subscriptions (never their secrets)."""
        return [subscription_view(s) for s in await svc.subscriptions.list(owner)]

    @router.delete("/{subscription_id}", status_code=202)
    async def delete_subscription(
        subscription_id: str, svc: ServicesDep, owner: str | None = None
    ) -> dict[str, Any]:
        receipt = await svc.subscriptions.delete(subscription_id, owner=owner)
        return receipt.as_dict()

    return router
